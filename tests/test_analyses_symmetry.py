"""Symmetry violation and symmetry factor (Glowacki eq. 5; Nabat et al.): an exactly invariant model reads
~0 in float64, a generic transformer does not and violates more under larger boosts, the draws depend on
the seed alone, and the dual model's w_inv histogram."""

import copy
import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from raysym.analyses.symmetry import (
    DEFAULT_ANGLE_EDGES,
    DEFAULT_BETA_EDGES,
    FACTOR_ROW_KEYS,
    ROW_KEYS,
    check_edges,
    random_transforms,
    symmetry_factor,
    symmetry_violation,
)
from raysym.errors import ConfigError, DataError
from raysym.lorentz import apply_lorentz
from raysym.models.registry import build_model
from tests.synthetic import jet_momenta

TINY_TRANSFORMER = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}
TINY_INVARIANT = {"pair_widths": (8, 8), "node_widths": (8, 8), "latent": 16, "latent_widths": (8,),
                  "head_widths": (8,)}
METRIC = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))


def tiny(kind, seed=0):
    torch.manual_seed(seed)
    if kind == "teacher":
        return build_model("teacher", "small", **TINY_TRANSFORMER)
    if kind == "invariant":
        return build_model("invariant", "small", **TINY_INVARIANT)
    return build_model("dual", "small", transformer=TINY_TRANSFORMER, invariant=TINY_INVARIANT, gate_widths=(4,),
                       head_widths=(8,))


def confident(model, factor=10.0):
    """``model`` with its logit scaled by ``factor``: a fresh teacher's logits spread by only ~0.03 over
    jets (probabilities 0.5 ± 0.01), a trained tagger's by several units; scaling the last layer gives the
    random function a trained model's output range without changing its symmetry."""
    with torch.no_grad():
        last = model.head.net[-1]
        last.weight.mul_(factor)
        last.bias.mul_(factor)
    return model


@pytest.fixture(scope="module")
def jets():
    """48 padded 1 TeV jets in float32, as stored data is; slightly massive constituents."""
    return jet_momenta(48, 16, seed=0, dtype=torch.float32, max_mass=0.5)


@pytest.fixture(scope="module")
def teacher_rows(jets):
    return symmetry_violation(tiny("teacher"), *jets)


def forced_dual(weight):
    model = tiny("dual")
    model.force_invariant_weight = weight
    return model


# -- what the measurement must see ------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: tiny("invariant"), lambda: forced_dual(1.0)], ids=["invariant", "dual-w1"])
def test_exactly_invariant_model_reads_below_1e_5_in_every_bin(jets, make):
    rows = symmetry_violation(make(), *jets)
    assert [r["transform"] for r in rows] == ["boost"] * 5 + ["rotation"] * 4
    assert all(r["mean"] < 1e-5 and r["p90"] < 1e-5 for r in rows), rows


def test_float32_rounding_alone_would_break_the_invariant_model(jets):
    """Why the analysis runs in float64: a float32 Minkowski product of TeV momenta is off by O(0.1 GeV²)."""
    model = tiny("invariant").eval()
    p4, mask = jets
    boosts = random_transforms("boost", len(p4), 0.8, 0.95, seed=0).float()
    with torch.no_grad():
        diff = torch.sigmoid(model(p4, mask)) - torch.sigmoid(model(apply_lorentz(p4, boosts), mask))
    assert diff.abs().max() > 1e-5


def test_random_teacher_violates_the_symmetry_in_every_bin(jets, teacher_rows):
    # A fresh teacher is far from invariant everywhere (the invariant model reads ~1e-12): over all boosts
    # (the bins hold equally many) its mean violation is above 1e-3, in every bin above 1e-4 ...
    boosts = [r["mean"] for r in teacher_rows if r["transform"] == "boost"]
    assert sum(boosts) / len(boosts) > 1e-3, boosts
    assert all(r["mean"] > 1e-4 for r in teacher_rows), teacher_rows
    # ... and above 1e-3 in every boost bin once its logits span a trained tagger's range.
    rows = symmetry_violation(confident(tiny("teacher")), *jets)
    assert all(r["mean"] > 1e-3 for r in rows if r["transform"] == "boost"), rows


def test_larger_boosts_violate_more_than_the_smallest_bin(teacher_rows):
    boosts = [r["mean"] for r in teacher_rows if r["transform"] == "boost"]
    assert all(later > boosts[0] for later in boosts[1:]), boosts
    assert boosts[-1] > 2 * boosts[0]


def test_rows_match_a_brute_force_reference(jets):
    model = tiny("teacher")
    p4, mask = jets
    rows = symmetry_violation(model, p4, mask, beta_edges=(0.3, 0.6), angle_edges=(0.5, 1.0),
                              transforms_per_jet=2, seed=5, batch_size=13)
    twin = copy.deepcopy(model).double().eval()
    x, m = p4.double().repeat_interleave(2, 0), mask.repeat_interleave(2, 0)  # pair k: jet k // 2
    for row, (transform, low, high) in zip(rows, [("boost", 0.3, 0.6), ("rotation", 0.5, 1.0)]):
        with torch.no_grad():
            moved = apply_lorentz(x, random_transforms(transform, len(x), low, high, seed=5))
            v = (torch.sigmoid(twin(x, m)) - torch.sigmoid(twin(moved, m))).abs().numpy()
        assert row["mean"] == pytest.approx(v.mean(), rel=1e-9)
        assert row["p90"] == pytest.approx(np.quantile(v, 0.9), rel=1e-9)


# -- rows and draws ---------------------------------------------------------------------------------

def test_rows_name_transform_bins_and_counts(jets):
    rows = symmetry_violation(tiny("teacher"), *jets, transforms_per_jet=3)
    assert all(tuple(r) == ROW_KEYS for r in rows)
    bins = list(pairwise(DEFAULT_BETA_EDGES)) + list(pairwise(DEFAULT_ANGLE_EDGES))
    assert [(r["bin_low"], r["bin_high"]) for r in rows] == bins
    assert all(r["n_jets"] == 48 and r["n_transforms"] == 144 for r in rows)
    assert all(type(r["mean"]) is float and type(r["p90"]) is float and type(r["n_jets"]) is int for r in rows)
    assert all(0 <= r["mean"] <= 1 and 0 <= r["p90"] <= 1 for r in rows)


def test_same_seed_same_rows_other_seed_differs_batch_size_does_not_matter(jets):
    model = tiny("teacher")
    a, b, c = (symmetry_violation(model, *jets, seed=s) for s in (3, 3, 4))
    assert a == b
    assert [r["mean"] for r in a] != [r["mean"] for r in c]
    # The same transformations whatever the batching; only float64 summation order can differ.
    small = symmetry_violation(model, *jets, seed=3, batch_size=7)
    for x, y in zip(a, small):
        assert x["mean"] == pytest.approx(y["mean"], rel=1e-9)
        assert x["p90"] == pytest.approx(y["p90"], rel=1e-9)


def test_transforms_fall_in_their_bin_and_share_directions_across_bins():
    lo = random_transforms("boost", 500, 0.2, 0.4, seed=1)
    hi = random_transforms("boost", 500, 0.8, 0.95, seed=1)
    for boosts, (low, high) in ((lo, (0.2, 0.4)), (hi, (0.8, 0.95))):
        assert torch.allclose(boosts.transpose(1, 2) @ METRIC @ boosts, METRIC.expand(500, 4, 4), atol=1e-12)
        gamma = boosts[:, 0, 0]
        speed = torch.sqrt(1 - 1 / gamma**2)
        assert speed.min() >= low - 1e-12 and speed.max() < high + 1e-12
    # Λ0i = −γβi: the boost direction is −Λ0i / |Λ0·|, the same in both bins (common random numbers).
    directions = [-b[:, 0, 1:] / b[:, 0, 1:].norm(dim=-1, keepdim=True) for b in (lo, hi)]
    assert torch.allclose(*directions, atol=1e-12)
    rotations = random_transforms("rotation", 500, 1.0, 2.0, seed=1)
    angle = torch.acos(((torch.diagonal(rotations[:, 1:, 1:], dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1))
    assert angle.min() >= 1.0 - 1e-9 and angle.max() < 2.0 + 1e-9
    assert torch.all(rotations[:, 0, 0] == 1) and torch.all(rotations[:, 0, 1:] == 0)


def test_callers_model_is_left_as_it_was(jets):
    model = tiny("teacher").train()
    before = [p.detach().clone() for p in model.parameters()]
    symmetry_violation(model, *jets, beta_edges=(0.0, 0.5), angle_edges=(0.0, 1.0))
    assert model.training
    assert all(p.dtype == torch.float32 and torch.equal(p, q) for p, q in zip(model.parameters(), before))


# -- the dual model's symmetry factor ---------------------------------------------------------------

def test_factor_histogram_sums_to_one_and_matches_the_gate():
    parts = [jet_momenta(20, 16, seed=s, dtype=torch.float32, jet_pt=pt) for s, pt in enumerate((100.0, 1e3, 1e4))]
    p4, mask = torch.cat([p for p, _ in parts]), torch.cat([m for _, m in parts])
    model = tiny("dual")
    rows = symmetry_factor(model, p4, mask, bins=5, batch_size=11)
    assert all(tuple(r) == FACTOR_ROW_KEYS for r in rows)
    assert [(r["bin_low"], r["bin_high"]) for r in rows] == [(i / 5, (i + 1) / 5) for i in range(5)]
    assert sum(r["fraction"] for r in rows) == pytest.approx(1.0, abs=1e-12)
    assert all(r["transform"] == "factor" and r["n_jets"] == 60 and r["n_transforms"] == 0 for r in rows)
    with torch.no_grad():
        w_inv = copy.deepcopy(model).double().symmetry_factor(p4.double(), mask).numpy()
    counts, _ = np.histogram(w_inv, bins=5, range=(0, 1))
    assert [r["fraction"] for r in rows] == pytest.approx(counts / 60)
    assert all(r["mean"] == pytest.approx(w_inv.mean()) and r["p90"] == pytest.approx(np.quantile(w_inv, 0.9))
               for r in rows)


@pytest.mark.parametrize("weight,full_bin", [(1.0, -1), (0.0, 0)])
def test_forced_factor_puts_every_jet_in_its_end_bin(jets, weight, full_bin):
    rows = symmetry_factor(forced_dual(weight), *jets, bins=10)
    assert [r["fraction"] for r in rows][full_bin] == 1.0
    assert rows[0]["mean"] == weight and rows[0]["p90"] == weight


# -- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad,message", [(float("nan"), "NaN or infinite"), (float("inf"), "NaN or infinite")])
def test_non_finite_momenta_are_a_data_error(jets, bad, message):
    p4, mask = jets[0].clone(), jets[1]
    p4[5, 0, 1] = bad
    with pytest.raises(DataError, match=message + ".*first: jet 5"):
        symmetry_violation(tiny("invariant"), p4, mask)
    with pytest.raises(DataError, match=message):
        symmetry_factor(forced_dual(0.5), p4, mask)


def test_empty_or_misshapen_jets_are_a_data_error(jets):
    p4, mask = jets
    with pytest.raises(DataError, match="no jets"):
        symmetry_violation(tiny("teacher"), p4[:0], mask[:0])
    with pytest.raises(DataError, match="no jets"):
        symmetry_factor(forced_dual(0.5), p4[:0], mask[:0])
    with pytest.raises(DataError, match="does not match"):
        symmetry_violation(tiny("teacher"), p4, mask[:, :3])


@pytest.mark.parametrize("options,message", [
    ({"beta_edges": (0.0, 1.0)}, r"beta_edges must be finite and in \[0, 1\)"),
    ({"beta_edges": (0.2,)}, "at least 2 edges"),
    ({"beta_edges": (0.4, 0.2)}, "strictly increasing"),
    ({"beta_edges": (0.2, 0.2, 0.4)}, "strictly increasing"),
    ({"beta_edges": (-0.1, 0.2)}, "beta_edges must be finite"),
    ({"angle_edges": (0.0, 4.0)}, r"angle_edges must be finite and in \[0, 3.14159\]"),
    ({"angle_edges": (0.0, float("nan"))}, "angle_edges must be finite"),
    ({"angle_edges": "0,1"}, "sequence of bin edges"),
    ({"angle_edges": (0.0, "wide")}, "must be numbers"),
    ({"transforms_per_jet": 0}, "transforms_per_jet must be a positive integer"),
    ({"transforms_per_jet": 1.5}, "transforms_per_jet must be a positive integer"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_settings_are_a_config_error(jets, options, message):
    with pytest.raises(ConfigError, match=message):
        symmetry_violation(tiny("invariant"), *jets, **options)


def test_edges_reach_pi_for_angles_but_never_one_for_beta():
    assert check_edges([0, 1], math.pi, "angle_edges") == (0.0, 1.0)
    assert check_edges(DEFAULT_ANGLE_EDGES, math.pi, "angle_edges") == DEFAULT_ANGLE_EDGES
    assert check_edges(np.array([0.0, 0.5]), 1.0, "beta_edges") == (0.0, 0.5)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        check_edges((0.5, 1.0), 1.0, "beta_edges")


def test_factor_needs_the_dual_model_and_sane_bins(jets):
    with pytest.raises(ConfigError, match="JetTransformer has no such gate"):
        symmetry_factor(tiny("teacher"), *jets)
    with pytest.raises(ConfigError, match="bins must be a positive integer"):
        symmetry_factor(forced_dual(0.5), *jets, bins=0)
