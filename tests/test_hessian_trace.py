"""Tr(H) (Glowacki §2.1): Hutchinson, its split/combine, Hutch++, PyHessian's trace, and the SLQ density."""

from __future__ import annotations

import math

import pytest
import torch

from raysym.hessian import (HessianOperator, combine, hutch_plus_plus, hutchinson_samples, hutchinson_trace,
                            slq_density)
from raysym.hessian.pyhessian_backend import pyhessian_trace
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
