"""The Hessian eigenvalue density by stochastic Lanczos quadrature (SLQ; Ubaru, Chen & Saad 2017).

The spectral density φ(t) = (1/n) Σ_i δ(t − λ_i) of H (eq. 1) shows what λ1 and Tr(H) summarise: the
outliers and the bulk. For a unit vector v, vᵀ f(H) v = Σ_i (vᵀu_i)² f(λ_i) is a Stieltjes integral
against a measure with weights (vᵀu_i)²; m steps of Lanczos from v give its m-point Gauss quadrature,
nodes θ_j = eigenvalues of T_m and weights τ_j = (first component of the j-th eigenvector of T_m)²
(Golub & Meurant). Averaging over random unit probes (Rademacher/√n) gives E[(vᵀu_i)²] = 1/n, hence

    φ(t) ≈ (1/n_v) Σ_l Σ_j τ_j^(l) g_σ(t − θ_j^(l)),   g_σ a Gaussian of width σ.

Two checks follow from that construction and are tested: each probe's weights sum to 1 (the density
integrates to 1), and Σ_j τ_j θ_j = α_1 = vᵀHv/n, so the density's mean is the Hutchinson estimate of
Tr(H)/n on the same probes (we seed probe l exactly as Hutchinson probe l). PyHessian's ``density()``
does the same but calls ``torch.eig``, removed from torch; this is the replacement.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from raysym.errors import ConfigError, positive_int
from raysym.hessian.closure import LossClosure
from raysym.hessian.hvp import HessianOperator, as_operator, rademacher
from raysym.hessian.lanczos import _tridiagonal, lanczos_run


@dataclass
class DensityResult:
    """Quadrature nodes and weights per probe (lists: a probe whose Krylov space closes early has fewer)."""

    nodes: list[torch.Tensor]
    weights: list[torch.Tensor]
    n_params: int
    n_hvp: int
    seconds: float
    seed: int

    def mean(self) -> float:
        """∫ t φ(t) dt = Tr(H)/n estimated on these probes."""
        return float(sum((w * x).sum() for x, w in zip(self.nodes, self.weights)) / len(self.nodes))

    def grid(self, points: int = 1000, sigma: float | None = None, pad: float = 5.0) -> torch.Tensor:
        """An even grid covering every node, ``pad``·σ beyond the extremes."""
        sigma = self.default_sigma() if sigma is None else sigma
        all_nodes = torch.cat(self.nodes)
        return torch.linspace(float(all_nodes.min()) - pad * sigma, float(all_nodes.max()) + pad * sigma,
                              points, dtype=torch.float64)

    def default_sigma(self) -> float:
        """1 % of the spectral range (Ghorbani et al. 2019 use a comparable fixed fraction)."""
        all_nodes = torch.cat(self.nodes)
        spread = float(all_nodes.max() - all_nodes.min())
        return max(spread, float(all_nodes.abs().max()), 1e-12) * 0.01

    def density(self, grid: torch.Tensor | None = None,
                sigma: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(grid, φ on the grid): the Gaussian-broadened SLQ density."""
        sigma = self.default_sigma() if sigma is None else float(sigma)
        if sigma <= 0:
            raise ConfigError(f"sigma must be positive, got {sigma!r}")
        grid = self.grid(sigma=sigma) if grid is None else torch.as_tensor(grid, dtype=torch.float64)
        phi = torch.zeros_like(grid)
        for x, w in zip(self.nodes, self.weights):
            z = (grid[:, None] - x[None, :]) / sigma
            phi += (w[None, :] * torch.exp(-0.5 * z * z)).sum(1)
        return grid, phi / (len(self.nodes) * sigma * math.sqrt(2 * math.pi))


def slq_probe(source: LossClosure | HessianOperator, probe: int, steps: int, seed: int = 0,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(nodes, weights) of one SLQ probe: ``steps`` Lanczos steps from Rademacher probe ``probe`` of
    ``seed`` — the same vector as Hutchinson probe ``probe``, whatever process computes it."""
    positive_int("steps", steps)
    op = as_operator(source)
    alphas, betas, _, _, _ = lanczos_run(op, rademacher(op, seed, probe), steps)
    theta, s = torch.linalg.eigh(_tridiagonal(alphas, betas))
    return theta, s[0] ** 2


def slq_density(source: LossClosure | HessianOperator, n_probes: int = 4, steps: int = 80,
                seed: int = 0) -> DensityResult:
    """SLQ nodes and weights from ``n_probes`` Rademacher probes of ``steps`` Lanczos steps each."""
    for name, value in (("n_probes", n_probes), ("steps", steps)):
        positive_int(name, value)
    op = as_operator(source)
    start_time, start_hvp = time.perf_counter(), op.n_hvp
    probes = [slq_probe(op, probe, steps, seed) for probe in range(n_probes)]
    return DensityResult([n for n, _ in probes], [w for _, w in probes], op.n_params, op.n_hvp - start_hvp,
                         time.perf_counter() - start_time, seed)
