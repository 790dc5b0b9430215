"""λ1 by SciPy's ARPACK over our HVP (docs/methods.md §6.2) against our Lanczos and the dense toy Hessian."""

from __future__ import annotations

import pytest
import torch

from raysym.errors import ConfigError
from raysym.hessian import HessianOperator, lanczos_top_eigenpairs
from raysym.hessian.arpack import arpack_top_eigenpairs  # imports SciPy only when called
from test_hessian_toy import toy



def test_arpack_lambda1_agrees_with_lanczos_and_with_eigvalsh_of_the_dense_hessian():
    t = toy()
    op = HessianOperator(t.closure)
    theirs = arpack_top_eigenpairs(op, k=1, tol=1e-8, seed=0)
    ours = lanczos_top_eigenpairs(t.closure, k=1, tol=1e-8, seed=0)
    exact = float(t.eigenvalues[-1])
    assert theirs.converged and theirs.method == "arpack-LA"
    assert theirs.top == pytest.approx(exact, rel=1e-8) and theirs.top == pytest.approx(ours.top, rel=1e-8)
    assert theirs.n_hvp == op.n_hvp == theirs.iterations > 0
    v = theirs.eigenvectors[0]
    assert float((t.dense @ v - exact * v).norm()) < 1e-6 * abs(exact)


def test_arpack_top_two_and_largest_magnitude_match_eigvalsh():
    t = toy()
    two = arpack_top_eigenpairs(t.closure, k=2, tol=1e-8, ncv=10)
    assert torch.allclose(two.eigenvalues, t.eigenvalues.flip(0)[:2], rtol=1e-7)
    magnitude = arpack_top_eigenpairs(t.closure, k=1, tol=1e-8, which="LM")
    assert magnitude.top == pytest.approx(float(t.eigenvalues[t.eigenvalues.abs().argmax()]), rel=1e-7)


def test_arpack_starts_from_the_same_seeded_vector_as_lanczos_and_repeats_bitwise():
    t = toy()
    a = arpack_top_eigenpairs(t.closure, k=1, tol=1e-6, ncv=4, seed=5)
    b = arpack_top_eigenpairs(t.closure, k=1, tol=1e-6, ncv=4, seed=5)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and a.n_hvp == b.n_hvp
    warm = arpack_top_eigenpairs(t.closure, k=1, tol=1e-6, ncv=4, start=torch.linalg.eigh(t.dense)[1][:, -1])
    assert warm.top == pytest.approx(a.top, rel=1e-8)


def test_arpack_settings_that_cannot_work_raise_config_errors():
    t = toy()
    for kwargs in (dict(k=0), dict(k=t.n), dict(which="SA"), dict(tol=-1.0), dict(ncv=1), dict(ncv=t.n + 1),
                   dict(max_iter=0), dict(start=torch.zeros(t.n, dtype=torch.float64))):
        with pytest.raises(ConfigError):
            arpack_top_eigenpairs(t.closure, **kwargs)
