"""Tr(H) by XTrace (Epperly, Tropp & Webber 2024, "XTrace: making the most of every sample in stochastic
trace estimation", SIAM J. Matrix Anal. Appl. 45(1)), for symmetric H.

Why another estimator beside Hutch++: Hutch++ splits its budget between a sketch (for a low-rank part
taken exactly) and independent probes (for the rest), so each HVP serves only one of the two jobs. XTrace
uses every test vector for both, by *exchangeability*. With s Gaussian test vectors Ω = [ω_1 … ω_s]
(s HVPs for Y = HΩ, s more for HQ, budget 2s), let Q_(i) be an orthonormal basis of the span of Y
without its column i. Then, for each i,

    T̂_i = tr(Q_(i)ᵀ H Q_(i)) + ω_iᵀ (I − Q_(i)Q_(i)ᵀ) H (I − Q_(i)Q_(i)ᵀ) ω_i

is an unbiased Hutch++-like estimate whose sketch does not involve ω_i, and XTrace is their mean
T̂ = (1/s) Σ_i T̂_i. The paper's error estimate is the spread of the T̂_i, √(Σ_i (T̂_i − T̂)² / (s(s−1))),
which we report as ``standard_error`` (a heuristic: the T̂_i share s − 1 vectors, so they are not
independent; the paper finds it tracks the true error).

As in the paper's improved version, the probe term uses the projected vector u_i = (I − Q_(i)Q_(i)ᵀ)ω_i
rescaled to the length √(n − r_i) of a typical vector in its (n − r_i)-dimensional range: for Gaussian
ω_i its direction is uniform there, so (n − r_i) u_iᵀHu_i/‖u_i‖² is still unbiased, with less variance.

Everything after the 2s HVPs is s × s algebra in float64 (our own derivation from the definitions): with
Y = QR (QR of the n × s sketch), W = QᵀΩ, M = QᵀHQ and r_i = Qᵀy_i = R e_i, the span of Y without column
i is Q·range(R_{−i}). Let P_i be the orthogonal projector onto range(R_{−i}) in these coordinates
(I − s_i s_iᵀ with s_i the normalised i-th row of R⁻¹ when R is well conditioned, from an SVD of R_{−i}
otherwise — e.g. when H has rank < s, where XTrace is exact). With p_i = P_i w_i,

    tr(Q_(i)ᵀHQ_(i)) = Σ (P_i ∘ M),   u_iᵀHu_i = ω_iᵀy_i − 2 r_iᵀp_i + p_iᵀMp_i,   ‖u_i‖² = ‖ω_i‖² − w_iᵀp_i.

The n-long products (Gram matrices) are accumulated in float64 by row blocks, so nothing of size n is
ever held in float64.
"""

from __future__ import annotations

import math
import time

import torch

from raysym.errors import ConfigError
from raysym.hessian.closure import LossClosure
from raysym.hessian.hvp import HessianOperator, as_operator, random_normal
from raysym.hessian.results import TraceEstimate

#: Rows per block in the float64 Gram products (a block of 64k rows × s columns in float64 at a time).
_BLOCK = 1 << 16


def gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """aᵀb for tall (n, p) and (n, q) matrices, accumulated in float64 over row blocks."""
    out = torch.zeros(a.shape[1], b.shape[1], dtype=torch.float64)
    for start in range(0, a.shape[0], _BLOCK):
        out += (a[start:start + _BLOCK].double().T @ b[start:start + _BLOCK].double()).cpu()
    return out


def _leave_one_out_projectors(r: torch.Tensor, rtol: float) -> tuple[list[torch.Tensor], list[int]]:
    """P_i, the projector onto range(R without column i), and its rank r_i, for each column i."""
    s = r.shape[1]
    singular = torch.linalg.svdvals(r)
    if s > 1 and singular[-1] > rtol * singular[0]:
        rows = torch.linalg.inv(r)  # row i of R⁻¹ is orthogonal to every column of R but the i-th
        rows = rows / rows.norm(dim=1, keepdim=True)
        eye = torch.eye(s, dtype=torch.float64)
        return [eye - torch.outer(rows[i], rows[i]) for i in range(s)], [s - 1] * s
    projectors, ranks = [], []
    for i in range(s):
        rest = torch.cat([r[:, :i], r[:, i + 1:]], dim=1)
        u, sv, _ = torch.linalg.svd(rest, full_matrices=False)
        keep = u[:, sv > rtol * sv.max()] if sv.numel() and sv.max() > 0 else u[:, :0]
        projectors.append(keep @ keep.T)
        ranks.append(int(keep.shape[1]))
    return projectors, ranks


def xtrace(source: LossClosure | HessianOperator, n_hvp: int = 100, seed: int = 0) -> TraceEstimate:
    """Tr(H) by XTrace with a budget of ``n_hvp`` HVPs (≥ 4): s = n_hvp // 2 Gaussian test vectors.

    Test vectors are Gaussian from (seed, i, 3). ``standard_error`` is the paper's leave-one-out error
    estimate; ``extra`` holds the mean low-rank part, the sketch size and its numerical rank.
    """
    if isinstance(n_hvp, bool) or not isinstance(n_hvp, int) or n_hvp < 4:
        raise ConfigError(f"XTrace needs a budget of at least 4 HVPs (2 test vectors), got {n_hvp!r}")
    op = as_operator(source)
    start_time, start_hvp = time.perf_counter(), op.n_hvp
    n = op.n_params
    s = min(n_hvp // 2, n)
    omega = torch.stack([random_normal(op, seed, i, 3) for i in range(s)], dim=1)
    y = op.matmat(omega)
    quad = torch.stack([torch.dot(omega[:, i].double(), y[:, i].double()) for i in range(s)]).cpu()
    norms2 = torch.stack([omega[:, i].double().norm() ** 2 for i in range(s)]).cpu()
    q, _ = torch.linalg.qr(y)
    r = gram(q, y)  # Qᵀy_i in float64 (= R up to the rounding of the QR itself)
    w = gram(q, omega)
    del y, omega
    hq = op.matmat(q)
    m = gram(q, hq)
    m = (m + m.T) / 2
    del hq, q
    rtol = 100 * s * torch.finfo(op.dtype).eps
    projectors, ranks = _leave_one_out_projectors(r, rtol)
    singular = torch.linalg.svdvals(r)
    sketch_rank = int((singular > rtol * singular[0]).sum())
    estimates = torch.empty(s, dtype=torch.float64)
    low_rank = torch.empty(s, dtype=torch.float64)
    for i, (p, rank) in enumerate(zip(projectors, ranks)):
        coeffs = p @ w[:, i]
        low_rank[i] = (p * m).sum()
        quadratic = quad[i] - 2 * torch.dot(r[:, i], coeffs) + coeffs @ m @ coeffs
        length2 = norms2[i] - torch.dot(w[:, i], coeffs)
        estimates[i] = low_rank[i] + (n - rank) * quadratic / length2
    trace = float(estimates.mean())
    se = float(estimates.std(unbiased=True) / math.sqrt(s)) if s > 1 else math.nan
    return TraceEstimate(trace=trace, standard_error=se, n_probes=s, n_hvp=op.n_hvp - start_hvp,
                         seconds=time.perf_counter() - start_time, method="xtrace",
                         extra={"seed": seed, "low_rank": float(low_rank.mean()), "sketch_size": s,
                                "sketch_rank": sketch_rank})
