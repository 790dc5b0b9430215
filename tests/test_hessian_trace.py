"""Tr(H) (Glowacki §2.1): Hutchinson (plain and deflated), its split/combine, Hutch++, XTrace, the stopping rule
at a stated precision, PyHessian's trace, and the SLQ density."""

from __future__ import annotations

import math

import pytest
import torch

from raysym.errors import ConfigError
from raysym.hessian import (Deflation, HessianOperator, combine, deflation_from_lanczos, hutch_plus_plus,
                            hutchinson_samples, hutchinson_trace, lanczos_top_eigenpairs, precision_reached,
                            slq_density, trace_to_precision, xtrace)
from raysym.hessian.hvp import rademacher
from raysym.hessian.pyhessian_backend import pyhessian_trace
from raysym.hessian.results import TraceEstimate
from test_hessian_toy import toy


def test_hutchinson_trace_is_unbiased_with_the_spread_rademacher_probes_must_have():
    t = toy()
    # For Rademacher probes Var(vᵀHv) = 2 (‖H‖_F² − Σ_i H_ii²) (Hutchinson 1990): the dense toy gives the
    # exact standard error of a 40-probe mean, against which both the estimate and its own error are checked.
    exact = math.sqrt(2 * float((t.dense ** 2).sum() - (t.dense.diagonal() ** 2).sum()) / 40)
    many = combine([hutchinson_samples(t.closure, range(10), 0), hutchinson_samples(t.closure, range(10, 40), 0)])
    assert abs(many.trace - t.trace) < 3 * exact
    assert 0.5 < many.standard_error / exact < 2
    assert many.n_probes == 40 and many.n_hvp == 40


def test_hutchinson_probes_in_disjoint_subsets_combine_bitwise_to_all_at_once():
    t = toy()
    op = HessianOperator(t.closure)
    whole = combine(hutchinson_samples(op, range(8), seed=4))
    odd, even = hutchinson_samples(op, [7, 5, 3, 1], seed=4), hutchinson_samples(op, [0, 2, 4, 6], seed=4)
    merged = combine([odd, even])
    assert merged.trace == whole.trace and merged.standard_error == whole.standard_error
    with pytest.raises(ValueError):
        combine([odd, odd])


def test_hutch_plus_plus_is_within_tolerance_and_beats_hutchinson_at_equal_cost():
    t = toy()
    budget = 24
    plus = [hutch_plus_plus(t.closure, n_hvp=budget, seed=s) for s in range(3)]
    plain = [hutchinson_trace(t.closure, n_probes=budget, seed=s) for s in range(3)]
    assert all(p.n_hvp == budget for p in plus)
    for p in plus:
        assert abs(p.trace - t.trace) < max(3 * p.standard_error, 1e-2 * abs(t.trace))
    error_plus = math.sqrt(sum((p.trace - t.trace) ** 2 for p in plus) / 3)
    error_plain = math.sqrt(sum((p.trace - t.trace) ** 2 for p in plain) / 3)
    assert error_plus < error_plain


def test_pyhessian_trace_runs_exactly_n_probes_and_agrees_within_its_standard_error():
    t = toy()
    theirs = pyhessian_trace(t.model, t.batches, n_probes=12, seed=0)
    assert theirs.n_probes == theirs.n_hvp == 12
    assert abs(theirs.trace - t.trace) < 4 * theirs.standard_error
    assert all(p.grad is None for p in t.model.parameters())


def test_slq_density_integrates_to_one_and_its_mean_is_trace_over_n():
    t = toy()
    result = slq_density(t.closure, n_probes=3, steps=30, seed=0)
    for w in result.weights:
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-10)
    grid, phi = result.density(sigma=0.2)
    assert float(torch.trapezoid(phi, grid)) == pytest.approx(1.0, abs=1e-3)
    # The quadrature mean is α_1 = vᵀHv/n on the same seeded probes as Hutchinson's …
    same_probes = combine(hutchinson_samples(t.closure, range(3), seed=0))
    assert result.mean() == pytest.approx(same_probes.trace / t.n, rel=1e-9)
    assert abs(result.mean() * t.n - t.trace) < 4 * same_probes.standard_error
    # … and the extreme Ritz values are the extreme eigenvalues.
    assert float(torch.cat(result.nodes).max()) == pytest.approx(float(t.eigenvalues[-1]), rel=1e-6)
    assert result.n_hvp == 90


# Deflated Hutchinson, XTrace and the adaptive stopping rule (issue 13 §3; docs/methods.md §6.2).


class DenseOperator(HessianOperator):
    """A dense symmetric matrix behind the HessianOperator interface (an exact, cheap reference)."""

    def __init__(self, matrix: torch.Tensor):
        self.matrix = matrix
        self.n_hvp = 0

    n_params = property(lambda self: self.matrix.shape[0])
    dtype = property(lambda self: self.matrix.dtype)
    device = property(lambda self: self.matrix.device)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.n_hvp += 1
        return self.matrix @ v.to(self.matrix.dtype)


def dense_operator(n: int = 120, rank: int | None = None, seed: int = 0) -> DenseOperator:
    """A symmetric matrix with a decaying spectrum of both signs (or of the given rank), like a loss Hessian's."""
    g = torch.Generator().manual_seed(seed)
    basis, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    values = 1.0 / torch.arange(1, n + 1, dtype=torch.float64)
    values = values * torch.where(torch.rand(n, generator=g) < 0.8, 1.0, -0.3).double()
    if rank is not None:
        values[rank:] = 0.0
    return DenseOperator((basis * values) @ basis.T)


def _toy_deflation(t, steps: int = 12):
    return deflation_from_lanczos(lanczos_top_eigenpairs(t.closure, k=1, max_iter=steps, tol=0.0, keep_ritz=steps))


def test_deflation_exact_part_is_the_trace_on_the_ritz_span_at_no_extra_hvp():
    t = toy()
    result = lanczos_top_eigenpairs(t.closure, k=1, max_iter=12, tol=0.0, keep_ritz=5)
    deflation = deflation_from_lanczos(result, k=3)
    v = deflation.vectors
    assert result.n_hvp == 12 and result.ritz_vectors.shape == (5, t.n)
    assert torch.allclose(v @ v.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
    assert deflation.exact == pytest.approx(float(torch.trace(v @ t.dense @ v.T)), rel=1e-9)
    # the kept pairs are those of largest |θ| (λ1 is among them)
    assert float(result.ritz_values.abs()[0]) >= float(result.ritz_values.abs()[-1])
    assert float(result.ritz_values.max()) == pytest.approx(float(t.eigenvalues[-1]), rel=1e-6)
    with pytest.raises(ConfigError):
        deflation_from_lanczos(result, k=6)
    with pytest.raises(ConfigError):
        deflation_from_lanczos(lanczos_top_eigenpairs(t.closure, k=1, max_iter=5))


def test_deflated_hutchinson_is_exact_with_zero_error_when_the_deflation_spans_the_whole_space():
    op = dense_operator(40)
    basis = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))[0].T
    deflation = Deflation(basis, exact=float(torch.trace(basis @ op.matrix @ basis.T)))
    estimate = combine(hutchinson_samples(op, range(6), seed=0, deflation=deflation))
    assert estimate.trace == pytest.approx(float(op.matrix.trace()), abs=1e-12)
    assert estimate.standard_error == pytest.approx(0.0, abs=1e-12)
    assert estimate.method == "deflated-hutchinson" and estimate.n_probes == estimate.n_hvp == 6


def test_deflated_hutchinson_matches_the_exact_trace_within_its_error_and_beats_plain_hutchinson():
    t = toy()
    deflation = _toy_deflation(t)
    deflated = [hutchinson_trace(t.closure, n_probes=12, seed=s, deflation=deflation) for s in range(3)]
    plain = [hutchinson_trace(t.closure, n_probes=12, seed=s) for s in range(3)]
    for d in deflated:
        assert abs(d.trace - t.trace) < 4 * d.standard_error
        assert d.extra["deflation_rank"] == 12 and d.extra["exact"] == deflation.exact
    assert max(d.standard_error for d in deflated) < min(p.standard_error for p in plain) / 3


def test_deflated_hutchinson_groups_merge_bitwise_and_refuse_mixing_with_other_deflations():
    t = toy()
    op = HessianOperator(t.closure)
    deflation = _toy_deflation(t, steps=6)
    whole = combine(hutchinson_samples(op, range(6), seed=2, deflation=deflation))
    parts = [hutchinson_samples(op, [5, 1, 3], seed=2, deflation=deflation),
             hutchinson_samples(op, [0, 4, 2], seed=2, deflation=deflation)]
    merged = combine(parts)
    assert merged.trace == whole.trace and merged.standard_error == whole.standard_error
    assert merged.n_hvp == 6 and merged.n_probes == 6
    with pytest.raises(ConfigError):
        combine([parts[0], hutchinson_samples(op, [0, 4, 2], seed=2)])
    # without a deflation nothing changed: the same values as before this option existed
    v = rademacher(op, 2, 3)
    assert hutchinson_samples(op, [3], seed=2).values == [float(torch.dot(v.double(), op.matvec(v).double()))]


def test_xtrace_is_exact_for_an_operator_of_rank_below_half_the_budget():
    op = dense_operator(80, rank=5)
    estimate = xtrace(op, n_hvp=16, seed=0)
    assert estimate.trace == pytest.approx(float(op.matrix.trace()), rel=1e-10)
    assert estimate.standard_error < 1e-10
    assert estimate.n_hvp == op.n_hvp == 16 and estimate.method == "xtrace" and estimate.extra["sketch_rank"] == 5


def test_xtrace_is_unbiased_and_its_error_estimate_is_in_the_right_range_over_seeds():
    op = dense_operator(120)
    exact = float(op.matrix.trace())
    runs = [xtrace(op, n_hvp=24, seed=s) for s in range(60)]
    errors = torch.tensor([r.trace - exact for r in runs])
    reported = torch.tensor([r.standard_error for r in runs])
    rms = float(errors.pow(2).mean().sqrt())
    assert abs(float(errors.mean())) < 3 * rms / math.sqrt(60)  # no bias beyond the noise of 60 runs
    assert 0.5 < float(reported.mean()) / rms < 2  # the leave-one-out estimate tracks the actual error
    # and XTrace beats Hutch++ at equal cost on this decaying spectrum
    plus = torch.tensor([hutch_plus_plus(op, n_hvp=24, seed=s).trace - exact for s in range(20)])
    assert rms < float(plus.pow(2).mean().sqrt())


def test_xtrace_on_the_toy_is_close_to_the_exact_trace():
    t = toy()
    runs = [xtrace(t.closure, n_hvp=24, seed=s) for s in range(3)]
    for r in runs:
        assert abs(r.trace - t.trace) < max(6 * r.standard_error, 0.03 * abs(t.trace))
        assert r.n_hvp == 24 and r.n_probes == 12


def test_trace_to_precision_stops_on_precision_when_loose_and_on_the_cap_when_impossible():
    op = dense_operator(120)
    loose = trace_to_precision(op, "hutchinson", rel_stderr=0.5, group_size=4, max_probes=200, seed=0)
    assert loose.extra["stop"] == "precision" and precision_reached(loose, 0.5)
    assert loose.n_hvp == loose.n_probes == sum(loose.extra["budgets"]) and loose.n_hvp % 4 == 0
    before = op.n_hvp
    capped = trace_to_precision(op, "hutchinson", rel_stderr=1e-6, group_size=8, max_probes=20, seed=0)
    assert capped.extra["stop"] == "cap" and capped.n_hvp == 20 == op.n_hvp - before
    assert capped.extra["budgets"] == [8, 8, 4]
    for method in ("hutch++", "xtrace"):
        before = op.n_hvp
        run = trace_to_precision(op, method, rel_stderr=1e-9, group_size=6, max_probes=50, seed=0)
        assert run.extra["stop"] == "cap" and run.n_hvp == op.n_hvp - before == sum(run.extra["budgets"]) <= 50
        assert run.extra["budgets"][:2] == [6, 12]
    deflation = Deflation(torch.eye(120, dtype=torch.float64)[:10], exact=float(op.matrix.diagonal()[:10].sum()))
    deflated = trace_to_precision(op, "deflated-hutchinson", 0.05, 8, 400, seed=0, deflation=deflation)
    assert deflated.method == "deflated-hutchinson" and deflated.extra["stop"] in ("precision", "cap")


def test_precision_settings_that_cannot_work_raise_config_errors():
    op = dense_operator(20)
    estimate = TraceEstimate(trace=2.0, standard_error=0.1, n_probes=4, n_hvp=4, seconds=0.0, method="hutchinson")
    assert precision_reached(estimate, 0.05) and not precision_reached(estimate, 0.04)
    bad = [dict(method="lanczos"), dict(rel_stderr=0), dict(rel_stderr=-0.1), dict(group_size=0),
           dict(max_probes=1), dict(method="deflated-hutchinson"),
           dict(deflation=Deflation(torch.eye(20, dtype=torch.float64)[:2], 0.0)),
           dict(method="xtrace", group_size=3)]
    for kwargs in bad:
        with pytest.raises(ConfigError):
            trace_to_precision(op, **kwargs)
    with pytest.raises(ConfigError):
        precision_reached(estimate, float("nan"))
    with pytest.raises(ConfigError):
        xtrace(op, n_hvp=3)
    with pytest.raises(ConfigError):
        hutchinson_samples(op, range(2), deflation=Deflation(torch.eye(10, dtype=torch.float64)[:2], 0.0))
    with pytest.raises(ConfigError):
        Deflation(torch.zeros(0, 20), 0.0)
