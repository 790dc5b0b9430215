"""Top Hessian eigenpairs by the Lanczos method with full reorthogonalisation.

Why Lanczos rather than PyHessian's power iteration (which the paper used, Glowacki §3.4): from the
same Krylov space K_m(H, v0) = span{v0, Hv0, …, H^{m−1}v0} that m steps of power iteration explore,
Lanczos keeps the best approximation to every extreme eigenpair instead of only the last iterate; its
convergence depends on the gap through Chebyshev polynomials (≈ √ of power iteration's rate), and it
gets k eigenpairs from one run instead of k deflated runs.

The recurrence (Lanczos 1950; Golub & Van Loan §10.1) builds an orthonormal basis Q_m = [q_1 … q_m]
with H Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ, T_m tridiagonal (α on the diagonal, β off it). With
T_m = S Θ Sᵀ, the Ritz pairs (θ_i, Q_m s_i) have residual ‖H y_i − θ_i y_i‖ = β_m |e_mᵀ s_i| at no
extra HVP; we stop when that is below ``tol``·|θ_i| for all k wanted pairs. Floating point destroys the
orthogonality of Q_m as soon as a Ritz pair converges (ghost eigenvalues), so every new vector is
reorthogonalised against the whole basis, twice ("twice is enough", Parlett). The basis costs
m·n_params numbers of memory (≈ 1 GB for the paper teacher at m = 100 in float64).

Restarts are independent: the start vector is drawn from ``seed`` alone, so several seeds can run in
parallel elsewhere and be compared (agreement of λ1 across seeds is the practical convergence check).
"""

from __future__ import annotations

import math
import time

import torch

from raysym.errors import ConfigError, positive_int
from raysym.hessian.closure import LossClosure
from raysym.hessian.hvp import HessianOperator, as_operator, random_normal
from raysym.hessian.results import EigenResult

WHICH = ("LA", "LM")


def _orthogonalise(w: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """w minus its projection on the rows of ``basis`` (orthonormal), done twice for stability."""
    if basis.shape[0] == 0:
        return w
    for _ in range(2):
        w = w - basis.T @ (basis @ w)
    return w


def _tridiagonal(alphas: list[float], betas: list[float]) -> torch.Tensor:
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if len(alphas) > 1:
        off = torch.tensor(betas[:len(alphas) - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return t


def _order(theta: torch.Tensor, which: str) -> torch.Tensor:
    """Indices of Ritz values, wanted first: largest algebraic ("LA") or largest magnitude ("LM")."""
    key = theta if which == "LA" else theta.abs()
    return torch.argsort(key, descending=True)


def lanczos_run(op: HessianOperator, start: torch.Tensor, max_iter: int, k: int | None = None,
                tol: float = 1e-6, which: str = "LA", restart_seed: int = 0):
    """The Lanczos recurrence from ``start``: (alphas, betas, basis (m, n), converged, residual β_m).

    With ``k`` set, stops once the k wanted Ritz pairs have relative residual ≤ ``tol``; without it
    (stochastic Lanczos quadrature) runs ``max_iter`` steps. An exact breakdown (β ≈ 0: the Krylov space
    is invariant) ends a quadrature run — its nodes are then exact — while an eigen-run continues from a
    fresh random vector orthogonal to the basis, so eigenvalues outside that invariant space can still
    be found.
    """
    n = op.n_params
    max_iter = min(max_iter, n)
    basis = torch.zeros(max_iter, n, dtype=op.dtype, device=op.device)
    eps = 100 * torch.finfo(op.dtype).eps
    alphas: list[float] = []
    betas: list[float] = []
    q = start.to(dtype=op.dtype, device=op.device)
    q = q / q.norm()
    converged = False
    beta = 0.0
    scale = 0.0
    restarts = 0
    for j in range(max_iter):
        basis[j] = q
        w = op.matvec(q)
        alpha = float(torch.dot(q.double(), w.double()))
        w = _orthogonalise(w, basis[:j + 1])  # removes α q_j and β q_{j−1} too, in one projection
        beta = float(w.norm())
        alphas.append(alpha)
        scale = max(scale, abs(alpha), beta)
        if k is not None and j + 1 >= k:
            theta, s = torch.linalg.eigh(_tridiagonal(alphas, betas))
            wanted = _order(theta, which)[:k]
            residual = beta * s[-1, wanted].abs()
            if bool((residual <= tol * theta[wanted].abs().clamp_min(eps * scale)).all()):
                converged = True
                break
        if j + 1 == max_iter:
            converged = converged or max_iter == n
            break
        if beta <= eps * scale:
            if k is None:
                converged = True
                break
            restarts += 1
            w = _orthogonalise(random_normal(op, restart_seed, 0x5EED, restarts), basis[:j + 1])
            q = w / w.norm()
            betas.append(0.0)
        else:
            q = w / beta
            betas.append(beta)
    m = len(alphas)
    return alphas, betas[:m - 1], basis[:m], converged, beta


def start_vector(op: HessianOperator, start: torch.Tensor | None, seed: int) -> torch.Tensor:
    """The Krylov start: ``start`` when given (a warm start), else the Gaussian drawn from ``seed``.

    The seeded stream (seed, 0x1A2C) is shared with :func:`raysym.hessian.arpack.arpack_top_eigenpairs`,
    so both methods begin from the same vector and their HVP counts compare like with like.
    """
    if start is None:
        return random_normal(op, seed, 0x1A2C)
    if not isinstance(start, torch.Tensor) or start.dim() != 1 or start.numel() != op.n_params:
        shape = tuple(start.shape) if isinstance(start, torch.Tensor) else type(start).__name__
        raise ConfigError(f"a start vector must be a flat tensor of {op.n_params} entries, got {shape}")
    norm = float(start.double().norm())
    if not math.isfinite(norm) or norm == 0.0:
        raise ConfigError(f"a start vector must be finite and non-zero, got norm {norm}")
    return start.detach().to(dtype=op.dtype, device=op.device)


def lanczos_top_eigenpairs(source: LossClosure | HessianOperator, k: int = 1, max_iter: int = 100,
                           tol: float = 1e-6, seed: int = 0, which: str = "LA", start: torch.Tensor | None = None,
                           keep_ritz: int = 0) -> EigenResult:
    """The top ``k`` eigenpairs of H by Lanczos with full reorthogonalisation, from a ``seed``-ed start.

    ``which="LA"`` (default) ranks eigenvalues algebraically — λ1 is the sharpest *upward* curvature,
    Glowacki's leading eigenvalue; ``"LM"`` ranks by magnitude, what power iteration converges to.
    ``tol`` bounds the relative Ritz residual ‖Hν − θν‖/|θ|; the eigenvalue error is then about
    residual²/gap. ``n_hvp`` is the number of Lanczos steps.

    ``start`` replaces the seeded start vector (a warm start, e.g. ν1 of the previous checkpoint: the
    closer it is to ν1, the fewer steps; ``seed`` then only seeds restarts after a breakdown, and
    ``quadrature`` is no longer a random probe of the spectral density).
    ``keep_ritz`` = r > 0 keeps the r Ritz pairs of largest |θ| in ``ritz_values``/``ritz_vectors``
    (all of them when the run took ≤ r steps, i.e. the whole Krylov space): with full
    reorthogonalisation QᵀHQ = T for the basis Q, so for Ritz vectors Y = QS, YᵀHY = diag(θ) — the
    trace of H on their span is Σθ at no extra HVP (what :func:`raysym.hessian.deflation.deflation_from_lanczos`
    uses). It costs r·n_params numbers of memory.
    """
    if which not in WHICH:
        raise ConfigError(f"which must be one of {WHICH}, got {which!r}")
    positive_int("k", k)
    if isinstance(keep_ritz, bool) or not isinstance(keep_ritz, int) or keep_ritz < 0:
        raise ConfigError(f"keep_ritz must be a non-negative integer, got {keep_ritz!r}")
    op = as_operator(source)
    if k > op.n_params:
        raise ConfigError(f"k = {k} exceeds the {op.n_params} parameters")
    first = start_vector(op, start, seed)
    start_time, start_hvp = time.perf_counter(), op.n_hvp
    alphas, betas, basis, converged, beta = lanczos_run(
        op, first, max(max_iter, k), k=k, tol=tol, which=which, restart_seed=seed)
    theta, s = torch.linalg.eigh(_tridiagonal(alphas, betas))
    wanted = _order(theta, which)[:k]
    vectors = (s[:, wanted].T.to(basis.dtype) @ basis)
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    ritz_values = ritz_vectors = None
    if keep_ritz:
        kept = _order(theta, "LM")[:keep_ritz]
        ritz_values = theta[kept].clone()
        # No renormalisation: the columns of S are orthonormal and Q is orthonormal to working precision,
        # and rescaling would break YᵀHY = diag(θ) by as much as it corrects.
        ritz_vectors = s[:, kept].T.to(basis.dtype) @ basis
    return EigenResult(
        eigenvalues=theta[wanted].clone(), eigenvectors=vectors, n_hvp=op.n_hvp - start_hvp,
        seconds=time.perf_counter() - start_time, converged=converged, iterations=len(alphas),
        residuals=beta * s[-1, wanted].abs(), seed=seed, method=f"lanczos-{which}",
        quadrature=(theta.clone(), (s[0] ** 2).clone()), ritz_values=ritz_values, ritz_vectors=ritz_vectors)
