"""Deflation of Hutchinson's estimator by vectors the analysis already has: the Lanczos Ritz vectors.

For any orthonormal V (k × n, rows) with P = VᵀV, the cross terms tr(PH(I − P)) vanish, so

    Tr(H) = tr(V H Vᵀ) + tr((I − P) H (I − P)) = exact + E[gᵀHg],   g = (I − P) v,

v a Rademacher probe (Hutchinson 1990). The first term is known exactly and the probes only see the
deflated operator, whose Hutchinson variance 2(‖(I−P)H(I−P)‖_F² − Σ diag²) has lost the large eigenvalues
that dominate it. This is the variance reduction of Hutch++ (Meyer, Musco, Musco & Woodruff 2021) with
the sketch replaced by a subspace that costs nothing extra: the λ1 Lanczos run of the same analysis.
With full reorthogonalisation the Lanczos basis Q satisfies QᵀHQ = T, so its Ritz vectors Y = QS
satisfy YᵀHY = diag(θ) and ``exact`` is the sum of the kept Ritz values — no HVP. Any orthonormal V
gives an unbiased estimate; the better V captures H's large-|λ| eigenvectors, the smaller the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from raysym.errors import ConfigError, positive_int
from raysym.hessian.results import EigenResult


@dataclass(frozen=True)
class Deflation:
    """k orthonormal rows ``vectors`` (k, n_params) and ``exact`` = tr(V H Vᵀ), the trace on their span.

    Travels to Ray tasks as it is (k·n_params numbers: 160 MB in float32 for k = 32 on the paper teacher).
    """

    vectors: torch.Tensor
    exact: float

    def __post_init__(self):
        if not isinstance(self.vectors, torch.Tensor) or self.vectors.dim() != 2 or self.vectors.shape[0] == 0:
            raise ConfigError("a deflation needs a (k, n_params) tensor of k ≥ 1 orthonormal rows")
        if not math.isfinite(self.exact):
            raise ConfigError(f"a deflation's exact trace must be finite, got {self.exact!r}")

    @property
    def rank(self) -> int:
        return int(self.vectors.shape[0])

    def project_out(self, v: torch.Tensor) -> torch.Tensor:
        """(I − VᵀV) v for a flat v (in v's dtype and device)."""
        basis = self.vectors.to(dtype=v.dtype, device=v.device)
        return v - basis.T @ (basis @ v)


def deflation_from_lanczos(result: EigenResult, k: int | None = None) -> Deflation:
    """The deflation by the ``k`` Ritz vectors of largest |θ| that a Lanczos run kept (all kept if None).

    ``result`` must come from :func:`~raysym.hessian.lanczos.lanczos_top_eigenpairs` with
    ``keep_ritz`` ≥ k. ``exact`` = Σ θ_i over the chosen pairs (YᵀHY = diag(θ), see the module docstring).
    """
    if result.ritz_vectors is None or result.ritz_values is None:
        raise ConfigError("the eigen result holds no Ritz vectors: run lanczos_top_eigenpairs with keep_ritz > 0")
    available = result.ritz_vectors.shape[0]
    if k is None:
        k = available
    positive_int("k", k)
    if k > available:
        raise ConfigError(f"a deflation by {k} Ritz vectors needs keep_ritz ≥ {k}; the run kept {available}")
    # ritz_values are ordered by |θ|, largest first, so the first k are the ones to take.
    return Deflation(vectors=result.ritz_vectors[:k], exact=float(result.ritz_values[:k].double().sum()))
