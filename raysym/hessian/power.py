"""Top Hessian eigenpairs by power iteration with deflation — PyHessian's algorithm, for parity.

The paper obtained λ1 with PyHessian (Glowacki §3.4), whose ``hessian.eigenvalues`` runs, for each of
the top_n eigenvalues: a random unit start; repeat {orthogonalise v against the eigenvectors already
found, Hv, λ = vᵀHv, v ← Hv/‖Hv‖} until |λ_new − λ_old| / (|λ_old| + 1e-6) < tol. We re-implement that
loop on a :class:`~raysym.hessian.closure.LossClosure` (any model or mask layout) so that our numbers
can be compared one to one with the paper's method, and with :mod:`raysym.hessian.lanczos`.

Power iteration converges to the eigenvalue of largest *magnitude*, at the rate (|λ2|/|λ1|)^{2t} for
the Rayleigh quotient; a stopping rule on the relative change of λ can stop early when that ratio is
near 1, which is why PyHessian's default tol = 1e-3 can under-estimate λ1 and why the Lanczos routine
is the default elsewhere. Differences from PyHessian: start vectors are seeded per eigen-index
(``seed``, i) instead of drawn from the global generator, and the eigenvalue reported is the last
Rayleigh quotient computed (PyHessian reports the one before it when it stops on the tolerance).
"""

from __future__ import annotations

import math
import time

import torch

from raysym.errors import positive_int
from raysym.hessian.closure import LossClosure
from raysym.hessian.hvp import HessianOperator, as_operator, random_normal
from raysym.hessian.results import EigenResult


def power_iteration(source: LossClosure | HessianOperator, top_n: int = 1, max_iter: int = 100,
                    tol: float = 1e-3, seed: int = 0) -> EigenResult:
    """The ``top_n`` largest-magnitude eigenpairs by power iteration with deflation (PyHessian's loop).

    ``max_iter`` and ``tol`` apply to each eigenvalue, as in PyHessian. ``residuals`` are NaN (knowing
    them would cost one more HVP per pair).
    """
    positive_int("top_n", top_n)
    op = as_operator(source)
    start_time, start_hvp = time.perf_counter(), op.n_hvp
    values: list[float] = []
    vectors: list[torch.Tensor] = []
    all_converged, iterations = True, 0
    for i in range(top_n):
        v = random_normal(op, seed, 0x90E3, i)
        v = v / v.norm()
        eigenvalue, converged = None, False
        for _ in range(max_iter):
            for u in vectors:  # deflation by projection, as PyHessian's `orthnormal`
                v = v - torch.dot(v, u) * u
            v = v / v.norm()
            hv = op.matvec(v)
            iterations += 1
            new = float(torch.dot(v.double(), hv.double()))
            v = hv / hv.norm()
            if eigenvalue is not None and abs(eigenvalue - new) / (abs(eigenvalue) + 1e-6) < tol:
                eigenvalue, converged = new, True
                break
            eigenvalue = new
        values.append(eigenvalue)
        vectors.append(v)
        all_converged &= converged
    return EigenResult(
        eigenvalues=torch.tensor(values, dtype=torch.float64), eigenvectors=torch.stack(vectors),
        n_hvp=op.n_hvp - start_hvp, seconds=time.perf_counter() - start_time, converged=all_converged,
        iterations=iterations, residuals=torch.full((top_n,), math.nan, dtype=torch.float64), seed=seed,
        method="power")
