"""Small result records shared by the Hessian estimators: numbers plus their cost (HVPs, seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class EigenResult:
    """Top eigenpairs of H, largest first.

    ``eigenvalues`` (k,) float64; ``eigenvectors`` (k, n_params) unit vectors in the parameters' dtype,
    flat in ``closure.params`` order; ``residuals`` (k,) ‖Hν − λν‖ estimates (NaN where not known);
    ``converged`` whether every requested pair met the tolerance; ``iterations`` Krylov / power steps.
    ``quadrature`` (nodes, weights): for Lanczos, the Gauss quadrature of the spectral measure seen from
    the (random) start vector — one stochastic-Lanczos-quadrature probe of the density, at no extra HVP.
    ``ritz_values`` (r,) float64 and ``ritz_vectors`` (r, n_params): for Lanczos with ``keep_ritz`` = r > 0,
    the r Ritz pairs of largest |θ| of the whole run (not only the k wanted ones), kept to deflate trace
    estimators (:mod:`raysym.hessian.deflation`); None otherwise, so a result stays small by default.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    n_hvp: int
    seconds: float
    converged: bool
    iterations: int
    residuals: torch.Tensor
    seed: int
    method: str
    quadrature: tuple[torch.Tensor, torch.Tensor] | None = None
    ritz_values: torch.Tensor | None = None
    ritz_vectors: torch.Tensor | None = None

    @property
    def top(self) -> float:
        """λ1."""
        return float(self.eigenvalues[0])


@dataclass
class TraceEstimate:
    """A stochastic estimate of Tr(H) with its standard error (from the spread of the random part)."""

    trace: float
    standard_error: float
    n_probes: int
    n_hvp: int
    seconds: float
    method: str
    extra: dict = field(default_factory=dict)
