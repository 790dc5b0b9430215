"""Events → truth-matched jets (raysym.generate.events), in-process, without Ray."""

import numpy as np
import pytest

from raysym.generate.detector import DetectorConfig
from raysym.generate.events import JET_ETA_MAX, JET_PT_MAX, JET_PT_MIN, delta_r, make_jets, match_jets


@pytest.fixture(scope="module")
def w_jets():
    return make_jets("w", 12, pythia_seed=11, detector_seed=12, mpi=False)


def _pt_eta(p4):
    pt = np.hypot(p4[..., 0], p4[..., 1])
    return pt, np.arcsinh(p4[..., 2] / pt)


def test_same_seeds_give_identical_jets(w_jets):
    again = make_jets("w", 12, pythia_seed=11, detector_seed=12, mpi=False)
    assert np.array_equal(again.jet_p4, w_jets.jet_p4)
    assert all(np.array_equal(a, b) for a, b in zip(again.constituents, w_jets.constituents))


def test_other_detector_seed_changes_the_jets(w_jets):
    other = make_jets("w", 12, pythia_seed=11, detector_seed=13, mpi=False)
    assert not np.array_equal(other.jet_p4, w_jets.jet_p4)


def test_jets_are_in_acceptance_with_sorted_constituents_summing_to_the_jet(w_jets):
    assert len(w_jets) == 12
    pt, eta = _pt_eta(w_jets.jet_p4)
    assert np.all((pt > JET_PT_MIN) & (pt < JET_PT_MAX) & (np.abs(eta) < JET_ETA_MAX))
    for c, p4, n in zip(w_jets.constituents, w_jets.jet_p4, w_jets.multiplicity):
        assert len(c) == n
        assert np.all(np.diff(np.hypot(c[:, 0], c[:, 1])) <= 0)
        assert np.allclose(c.sum(0), p4)
    assert set(np.abs(w_jets.truth_pdg_id)) == {24}
    assert w_jets.padded(150).shape == (12, 150, 4)


def test_quark_jets_are_light_flavour_by_default():
    jets = make_jets("q", 10, 3, 4, mpi=False, detector=None)
    assert set(np.abs(jets.truth_pdg_id)) <= {1, 2, 3}


def test_detector_off_keeps_every_visible_particle():
    jets = make_jets("z", 5, 5, 6, mpi=False, detector=None)
    with_detector = make_jets("z", 5, 5, 6, mpi=False, detector=DetectorConfig())
    assert jets.multiplicity.mean() > with_detector.multiplicity.mean()


def test_delta_r_wraps_phi():
    assert delta_r(0.0, np.pi - 0.1, 0.0, -np.pi + 0.1) == pytest.approx(0.2)


def test_matching_needs_the_boson_and_all_its_decay_quarks_inside_the_jet():
    # One event, two W bosons at φ = 0 and φ = π; the second has a quark 1.0 away from the jet.
    truth = (np.array([[24, -24]]), np.array([[0.0, 0.0]]), np.array([[0.0, np.pi]]),
             np.array([[[0.1, -0.1, np.nan], [0.0, 1.0, np.nan]]]),
             np.array([[[0.0, 0.0, np.nan], [np.pi, np.pi, np.nan]]]))
    jet_p4 = np.array([[1000.0, 0, 0, 1010], [-1000.0, 0, 0, 1010], [0, 1000.0, 0, 1010]])
    kept, ids = match_jets(jet_p4, np.zeros(3, dtype=int), truth, decays=True, allowed_ids=None)
    assert kept.tolist() == [0] and ids.tolist() == [24]
