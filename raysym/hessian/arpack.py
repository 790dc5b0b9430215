"""Top Hessian eigenpairs by ARPACK (SciPy's ``eigsh``) over the same HVP, to compare HVP counts with Lanczos.

ARPACK's implicitly restarted Lanczos method (Lehoucq, Sorensen & Yang 1998, "ARPACK Users' Guide";
Sorensen 1992) is the reference implementation of what :mod:`raysym.hessian.lanczos` does by hand. It
keeps a Krylov basis of ``ncv`` vectors and restarts it implicitly, which bounds memory at ncv·n_params
(our Lanczos holds every step), but it builds the whole basis before its first convergence test:
at least ``ncv`` HVPs, however early the Ritz value is good. Whether that costs more HVPs than our
Lanczos, which tests after every step, is measured in bench/trace_precision.py (docs/methods.md §6.2).

ARPACK works in float64 NumPy; each of its products is one :class:`HessianOperator` HVP (counted in
``n_hvp``) on the vector cast to the parameters' dtype. The start vector is the one Lanczos draws from
the same seed, so both methods start from the same point.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from raysym.errors import ConfigError, positive_int
from raysym.hessian.closure import LossClosure
from raysym.hessian.hvp import HessianOperator, as_operator
from raysym.hessian.lanczos import WHICH, start_vector
from raysym.hessian.results import EigenResult


def arpack_top_eigenpairs(source: LossClosure | HessianOperator, k: int = 1, tol: float = 1e-6, seed: int = 0,
                          which: str = "LA", ncv: int | None = None, max_iter: int | None = None,
                          start: torch.Tensor | None = None) -> EigenResult:
    """The top ``k`` eigenpairs of H by ``scipy.sparse.linalg.eigsh`` on a ``LinearOperator`` over the HVP.

    ``tol`` is ARPACK's relative accuracy of the Ritz values (its residual test ‖Hν − θν‖ ≤ tol·|θ|);
    ``ncv`` the basis size (SciPy's default max(2k + 1, 20) when None); ``max_iter`` ARPACK's restart
    limit. ``which`` as in :func:`~raysym.hessian.lanczos.lanczos_top_eigenpairs`. Without convergence
    the pairs ARPACK did converge are returned with ``converged`` False (none: a ConfigError would hide
    a real failure, so SciPy's ``ArpackNoConvergence`` then propagates). ``residuals`` are not known
    without extra HVPs and are NaN; ``iterations`` is the HVP count.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    if which not in WHICH:
        raise ConfigError(f"which must be one of {WHICH}, got {which!r}")
    positive_int("k", k)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 <= tol < 1:
        raise ConfigError(f"tol must be a number in [0, 1), got {tol!r}")
    op = as_operator(source)
    n = op.n_params
    if k >= n:
        raise ConfigError(f"ARPACK needs k < n_params, got k = {k} for {n} parameters")
    if ncv is not None:
        positive_int("ncv", ncv)
        if not k < ncv <= n:
            raise ConfigError(f"ncv must satisfy k < ncv ≤ n_params, got ncv = {ncv} (k = {k}, n = {n})")
    if max_iter is not None:
        positive_int("max_iter", max_iter)
    v0 = start_vector(op, start, seed).double().cpu().numpy()

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        return op.matvec(v).double().cpu().numpy()

    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    start_time, start_hvp = time.perf_counter(), op.n_hvp
    converged = True
    try:
        values, vectors = eigsh(operator, k=k, which=which, v0=v0, tol=tol, ncv=ncv, maxiter=max_iter)
    except ArpackNoConvergence as error:
        if len(error.eigenvalues) == 0:
            raise
        values, vectors, converged = error.eigenvalues, error.eigenvectors, False
    values = torch.from_numpy(np.asarray(values, dtype=np.float64))
    vectors = torch.from_numpy(np.asarray(vectors, dtype=np.float64)).T
    order = torch.argsort(values if which == "LA" else values.abs(), descending=True)
    vectors = vectors[order] / vectors[order].norm(dim=1, keepdim=True)
    n_hvp = op.n_hvp - start_hvp
    return EigenResult(eigenvalues=values[order].clone(), eigenvectors=vectors.to(dtype=op.dtype, device=op.device),
                       n_hvp=n_hvp, seconds=time.perf_counter() - start_time, converged=converged and len(order) == k,
                       iterations=n_hvp, residuals=torch.full((len(order),), float("nan"), dtype=torch.float64),
                       seed=seed, method=f"arpack-{which}")
