"""Pseudo-Goldstone scan (Glowacki eqs. 5–6): exact ε = 0 point, bitwise restore, invariance, grid checks."""

import math

import numpy as np
import pytest
import torch

from raysym.analyses.goldstone import (
    ROW_KEYS,
    as_direction,
    check_epsilons,
    evaluation_loss,
    goldstone_scan,
    probability_ratio,
    random_unit_direction,
    scan_direction,
    symmetric_grid,
)
from raysym.errors import ConfigError
from raysym.metrics import classification_metrics
from raysym.models.predict import predict_logits
from raysym.models.registry import build_model
from tests.synthetic import g_vs_w_batch

GRID = symmetric_grid(1.0, 5)


def tiny_teacher(seed=0):
    torch.manual_seed(seed)
    return build_model("teacher", "small", d_model=16, heads=2, ff=16, layers=1, head_widths=(16,))


def parameter_bytes(model):
    return [p.detach().numpy().tobytes() for p in model.parameters()]


@pytest.fixture(scope="module")
def jets():
    return g_vs_w_batch(12)


def test_scan_at_zero_epsilon_equals_plain_loss_exactly(jets):
    model = tiny_teacher()
    rows = goldstone_scan(model, random_unit_direction(model, 3), jets, GRID, batch_size=10)
    plain = classification_metrics(predict_logits(model, jets.p4, jets.mask, 10), jets.y.numpy())["bce"]
    assert plain == evaluation_loss(model, jets, batch_size=10)
    at_zero = [r for r in rows if r["epsilon"] == 0.0]
    assert [r["direction"] for r in at_zero] == ["nu1", "random"]
    assert all(r["loss"] == plain for r in at_zero)


def test_rows_cover_both_directions_on_the_grid_and_repeat_exactly(jets):
    model = tiny_teacher()
    nu = random_unit_direction(model, 3)
    rows = goldstone_scan(model, nu, jets, GRID, boost_seed=7)
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert [(r["direction"], r["epsilon"]) for r in rows] == [("nu1", e) for e in GRID] + [("random", e) for e in GRID]
    assert rows == goldstone_scan(model, nu, jets, GRID, boost_seed=7)
    assert all(np.isfinite(r["loss"]) and r["r_mean"] > 0 and r["r_std"] >= 0 for r in rows)


def test_parameters_restored_bitwise_after_the_scan(jets):
    model = tiny_teacher().train()
    before = parameter_bytes(model)
    goldstone_scan(model, random_unit_direction(model, 1), jets, symmetric_grid(0.3, 7))
    assert parameter_bytes(model) == before
    assert model.training


def test_parameters_restored_bitwise_when_the_loss_raises(jets):
    model = tiny_teacher()
    before = parameter_bytes(model)
    calls = []

    def failing_loss(m):
        calls.append(1)
        if len(calls) == 2:  # after the parameters were moved off θ
            raise RuntimeError("loss blew up")
        return 0.0

    with pytest.raises(RuntimeError, match="loss blew up"):
        scan_direction(model, random_unit_direction(model, 1), jets, GRID, loss=failing_loss)
    assert parameter_bytes(model) == before


def test_zero_direction_gives_a_flat_scan(jets):
    model = tiny_teacher()
    zero = torch.zeros(sum(p.numel() for p in model.parameters()))
    rows = scan_direction(model, zero, jets, GRID)
    assert len({r["loss"] for r in rows}) == 1
    assert len({(r["r_mean"], r["r_std"]) for r in rows}) == 1


def test_hard_invariant_model_has_ratio_one_at_every_epsilon_teacher_does_not():
    jets64 = g_vs_w_batch(6, dtype=torch.float64)
    torch.manual_seed(0)
    invariant = build_model("invariant", "small").double()
    rows = goldstone_scan(invariant, random_unit_direction(invariant, 0), jets64, GRID)
    assert all(abs(r["r_mean"] - 1) < 1e-6 and r["r_std"] < 1e-6 for r in rows)
    teacher = tiny_teacher().double()
    rows = goldstone_scan(teacher, random_unit_direction(teacher, 0), jets64, GRID)
    assert all(r["r_std"] > 1e-4 for r in rows)


def test_direction_as_parameter_shaped_tensors_equals_flat_vector(jets):
    model = tiny_teacher()
    flat = random_unit_direction(model, 2)
    pieces = as_direction(model, flat)
    assert [p.shape for p in pieces] == [p.shape for p in model.parameters()]
    assert scan_direction(model, pieces, jets, GRID) == scan_direction(model, flat, jets, GRID)


@pytest.mark.parametrize("bad,message", [
    (lambda n: torch.zeros(n + 1), "entries"),
    (lambda n: [torch.zeros(3)], "tensors"),
    (lambda n: torch.full((n,), float("nan")), "NaN"),
])
def test_a_direction_that_does_not_fit_the_model_is_rejected(jets, bad, message):
    model = tiny_teacher()
    n = sum(p.numel() for p in model.parameters())
    with pytest.raises(ConfigError, match=message):
        scan_direction(model, bad(n), jets, GRID)


def test_random_direction_is_unit_norm_and_seeded():
    model = tiny_teacher()
    a, b, c = (random_unit_direction(model, s) for s in (4, 4, 5))
    assert a.shape == (sum(p.numel() for p in model.parameters()),)
    assert math.isclose(float(a.double().norm()), 1.0, abs_tol=1e-6)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("grid,message", [
    ((-1.0, 0.0, 0.5), "symmetric"),
    ((-1.0, 1.0), "include ε = 0"),
    ((), "empty"),
    ((0.0, float("nan")), "finite"),
    (("a",), "numbers"),
])
def test_an_asymmetric_or_incomplete_grid_is_rejected(grid, message):
    with pytest.raises(ConfigError, match=message):
        check_epsilons(grid)


def test_default_grid_is_exactly_symmetric_with_zero():
    grid = symmetric_grid()
    assert len(grid) == 21 and 0.0 in grid and check_epsilons(grid) == grid
    assert all(a == -b for a, b in zip(grid, reversed(grid)))
    with pytest.raises(ConfigError, match="odd number"):
        symmetric_grid(1.0, 4)
    with pytest.raises(ConfigError, match="eps_max"):
        symmetric_grid(-1.0)


def test_ratio_is_finite_where_the_sigmoid_underflows():
    r = probability_ratio(np.array([-1000.0, 0.0]), np.array([-1001.0, 0.0]))
    assert np.allclose(r, [math.e, 1.0])
