"""Top eigenpairs (λ1 of Glowacki §3.4) against the dense toy Hessian: power iteration, Lanczos, PyHessian."""

from __future__ import annotations

import pytest
import torch

from raysym.errors import ConfigError
from raysym.hessian import HessianOperator, lanczos_top_eigenpairs, power_iteration
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues
from test_hessian_toy import toy


def _largest_magnitude(eigenvalues: torch.Tensor) -> float:
    return float(eigenvalues[eigenvalues.abs().argmax()])


def test_power_iteration_top_eigenvalue_within_1e_4_of_eigvalsh():
    t = toy()
    result = power_iteration(t.closure, top_n=1, max_iter=300, tol=1e-8, seed=0)
    exact = _largest_magnitude(t.eigenvalues)
    assert result.converged
    assert abs(result.top - exact) / abs(exact) < 1e-4
    v = result.eigenvectors[0]
    assert float((t.dense @ v - exact * v).norm()) < 1e-2 * abs(exact)
    assert result.n_hvp == result.iterations and result.seconds > 0


def test_lanczos_top_three_within_1e_3_with_eigenvectors():
    t = toy()
    result = lanczos_top_eigenpairs(t.closure, k=3, max_iter=100, tol=1e-6, seed=0)
    exact = t.eigenvalues.flip(0)[:3]
    assert result.converged and result.n_hvp == result.iterations <= 100
    assert torch.allclose(result.eigenvalues, exact, rtol=1e-3)
    for value, vector in zip(result.eigenvalues, result.eigenvectors):
        assert float((t.dense @ vector - value * vector).norm()) < 1e-3 * float(exact[0])


def test_lanczos_restarts_with_different_seeds_agree_and_same_seed_repeats_bitwise():
    t = toy()
    a = lanczos_top_eigenpairs(t.closure, k=1, seed=0)
    b = lanczos_top_eigenpairs(t.closure, k=1, seed=1)
    again = lanczos_top_eigenpairs(t.closure, k=1, seed=0)
    assert a.top == pytest.approx(b.top, rel=1e-8)
    assert torch.equal(a.eigenvalues, again.eigenvalues) and torch.equal(a.eigenvectors, again.eigenvectors)


def test_lanczos_needs_fewer_hvps_than_power_iteration_for_the_same_lambda1():
    t = toy()
    op_l, op_p = HessianOperator(t.closure), HessianOperator(t.closure)
    lanczos_top_eigenpairs(op_l, k=1, tol=1e-6)
    power_iteration(op_p, top_n=1, max_iter=300, tol=1e-8)
    assert op_l.n_hvp < op_p.n_hvp


def test_pyhessian_backend_agrees_with_ours_on_lambda1_within_1_percent():
    t = toy()
    ours = lanczos_top_eigenpairs(t.closure, k=1)
    theirs = pyhessian_top_eigenvalues(t.model, t.batches, top_n=1, max_iter=300, tol=1e-7, seed=0)
    assert theirs.top == pytest.approx(ours.top, rel=1e-2)
    assert theirs.eigenvectors.shape == (1, t.n) and theirs.n_hvp > 1
    assert all(p.grad is None for p in t.model.parameters())
    assert not t.model.training


def test_lanczos_warm_started_from_the_true_top_eigenvector_converges_in_at_most_two_steps():
    t = toy()
    top = torch.linalg.eigh(t.dense)[1][:, -1]
    cold = lanczos_top_eigenpairs(t.closure, k=1, tol=1e-6, seed=0)
    warm = lanczos_top_eigenpairs(t.closure, k=1, tol=1e-6, seed=0, start=top)
    assert warm.converged and warm.n_hvp <= 2 < cold.n_hvp
    assert warm.top == pytest.approx(cold.top, rel=1e-9)
    assert abs(float(warm.eigenvectors[0] @ cold.eigenvectors[0])) == pytest.approx(1.0, abs=1e-6)


def test_lanczos_rejects_start_vectors_and_ritz_counts_that_cannot_work():
    t = toy()
    for start in (torch.zeros(t.n, dtype=torch.float64), torch.ones(t.n + 1), torch.full((t.n,), float("nan"))):
        with pytest.raises(ConfigError):
            lanczos_top_eigenpairs(t.closure, k=1, max_iter=3, start=start)
    with pytest.raises(ConfigError):
        lanczos_top_eigenpairs(t.closure, k=1, max_iter=3, keep_ritz=-1)


def test_keeping_ritz_vectors_changes_no_eigenpair():
    t = toy()
    plain = lanczos_top_eigenpairs(t.closure, k=2, max_iter=20, seed=3)
    kept = lanczos_top_eigenpairs(t.closure, k=2, max_iter=20, seed=3, keep_ritz=4)
    assert plain.ritz_vectors is None and kept.ritz_vectors.shape == (4, t.n)
    assert torch.equal(plain.eigenvalues, kept.eigenvalues) and torch.equal(plain.eigenvectors, kept.eigenvectors)


def test_lanczos_warm_started_from_an_earlier_checkpoints_nu1_finds_the_same_lambda1_as_a_cold_start():
    """Issue 14: Lanczos at epoch e+K may start from ν1 of epoch e. Two checkpoints of a real network along
    its training (a few Adam steps apart) must give the same λ1 cold and warm, to the solver's tolerance."""
    import copy

    from raysym.hessian import training_loss_closure
    from tests.synthetic import g_vs_w_batch, tiny_config

    torch.manual_seed(0)
    model = tiny_config(0).build_model()
    batch = g_vs_w_batch(24)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    checkpoints = []
    for step in range(12):
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(batch.p4, batch.mask), batch.y).backward()
        optimizer.step()
        if step in (7, 11):
            checkpoints.append(copy.deepcopy(model).eval())

    def closure(network):
        return training_loss_closure(network, batch.p4, batch.mask, batch.y, batch_size=48, n_jets=None)

    earlier = lanczos_top_eigenpairs(closure(checkpoints[0]), k=1, max_iter=80, tol=1e-6, seed=0)
    cold = lanczos_top_eigenpairs(closure(checkpoints[1]), k=1, max_iter=80, tol=1e-6, seed=0)
    warm = lanczos_top_eigenpairs(closure(checkpoints[1]), k=1, max_iter=80, tol=1e-6, seed=0,
                                  start=earlier.eigenvectors[0])
    assert earlier.converged and cold.converged and warm.converged
    assert earlier.top != pytest.approx(cold.top, rel=1e-3)  # the model did move between the checkpoints
    # A relative Ritz residual r bounds the eigenvalue error by about r²·λ (and at worst r·λ).
    assert warm.top == pytest.approx(cold.top, rel=1e-6)
    assert abs(float(warm.eigenvectors[0].double() @ cold.eigenvectors[0].double())) == pytest.approx(1.0, abs=1e-4)
