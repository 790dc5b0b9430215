"""The parametric detector (raysym.generate.detector): thresholds, towers, resolutions, settings."""

import numpy as np
import pytest

from raysym.errors import ConfigError
from raysym.generate.detector import DetectorConfig, Particles, apply_detector, smear_energy, smear_tracks


def _particles(pt, eta, phi, event=None, mass=0.0):
    pt, eta, phi = (np.asarray(x, dtype=float) for x in (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    event = np.zeros(len(pt), dtype=np.int64) if event is None else np.asarray(event)
    return Particles(px, py, pz, e, event, int(event.max()) + 1 if len(event) else 1)


def _pt(p):
    return np.hypot(p.px, p.py)


def test_objects_below_the_pt_threshold_are_dropped():
    config = DetectorConfig(track_res_pt=0, track_res_const=0, ecal_res_stochastic=0, ecal_res_const=0)
    p = _particles([0.5, 5.0, 0.5, 5.0], [0.1, 0.2, 1.0, -1.0], [0.0, 1.0, 2.0, -2.0])
    out = apply_detector(p, charge=np.array([1, -1, 0, 0]), pdg_id=np.array([211, -211, 22, 22]),
                         config=config, rng=np.random.default_rng(0))
    assert len(out.px) == 2
    assert np.all(_pt(out) > 1.0)


def test_neutral_deposits_in_one_tower_merge_and_point_at_its_centre():
    config = DetectorConfig(ecal_res_stochastic=0, ecal_res_const=0, hcal_res_stochastic=0, hcal_res_const=0)
    size, dphi = config.tower_size, 2 * np.pi / config.n_phi_towers
    cell_phi = -np.pi + 180 * dphi  # lower edge of a φ cell
    eta = np.array([0.2, 0.7, 3.5]) * size
    phi = cell_phi + np.array([0.3, 0.6, 0.5]) * dphi
    p = _particles([10.0, 20.0, 30.0], eta, phi)
    out = apply_detector(p, charge=np.zeros(3), pdg_id=np.array([22, 130, 22]), config=config,
                         rng=np.random.default_rng(0))
    assert len(out.e) == 2  # the first two share a tower, the third is three cells away in η
    merged = np.argmin(np.abs(out.e - (p.e[0] + p.e[1])))
    assert out.e[merged] == pytest.approx(p.e[0] + p.e[1])
    assert np.arcsinh(out.pz[merged] / _pt(out)[merged]) == pytest.approx(0.5 * size)
    assert np.arctan2(out.py[merged], out.px[merged]) == pytest.approx(cell_phi + 0.5 * dphi)
    assert np.allclose(out.e**2, out.px**2 + out.py**2 + out.pz**2)  # towers are massless


def test_towers_of_different_events_never_merge():
    config = DetectorConfig(ecal_res_stochastic=0, ecal_res_const=0)
    p = _particles([10.0, 20.0], [0.0, 0.0], [0.0, 0.0], event=[0, 1])
    out = apply_detector(p, np.zeros(2), np.array([22, 22]), config, np.random.default_rng(0))
    assert out.event.tolist() == [0, 1]
    assert np.allclose(out.e, p.e)


def test_tracks_keep_direction_and_mass_outside_the_tracker_they_go_to_the_calorimeter():
    config = DetectorConfig(hcal_res_stochastic=0, hcal_res_const=0)
    p = _particles([50.0, 50.0], [0.5, 3.0], [1.0, 1.0], mass=0.13957)
    out = apply_detector(p, np.array([1.0, 1.0]), np.array([211, 211]), config, np.random.default_rng(1))
    track = 0  # tracks come first within an event
    assert np.arctan2(out.py[track], out.px[track]) == pytest.approx(1.0)
    assert np.arcsinh(out.pz[track] / _pt(out)[track]) == pytest.approx(0.5)
    m2 = out.e[track] ** 2 - out.px[track] ** 2 - out.py[track] ** 2 - out.pz[track] ** 2
    assert np.sqrt(m2) == pytest.approx(0.13957, rel=1e-4)
    assert out.e[1] ** 2 == pytest.approx(out.px[1] ** 2 + out.py[1] ** 2 + out.pz[1] ** 2)  # a tower


def test_muons_outside_the_tracker_and_particles_outside_the_calorimeter_leave_nothing():
    p = _particles([50.0, 50.0], [3.0, 6.0], [0.0, 0.0])
    out = apply_detector(p, np.array([-1.0, 0.0]), np.array([13, 22]), DetectorConfig(),
                         np.random.default_rng(0))
    assert len(out.e) == 0


def test_resolutions_have_the_configured_scale():
    rng = np.random.default_rng(0)
    config = DetectorConfig()
    pt = np.full(200_000, 100.0)
    expected = np.hypot(5e-4 * 100.0, 0.01)
    assert np.std(smear_tracks(pt, config, rng) / pt) == pytest.approx(expected, rel=0.02)
    e = np.full(200_000, 400.0)
    assert np.std(smear_energy(e, 0.05, 0.01, rng) / e) == pytest.approx(np.hypot(0.05 / 20, 0.01), rel=0.02)
    assert np.std(smear_energy(e, 1.0, 0.05, rng) / e) == pytest.approx(np.hypot(1.0 / 20, 0.05), rel=0.02)


def test_zero_energy_deposits_give_no_nan():
    out = smear_energy(np.zeros(5), 1.0, 0.05, np.random.default_rng(0))
    assert np.all(out == 0)


@pytest.mark.parametrize("field, value", [("tower_size", 0.0), ("track_pt_min", -1.0), ("hcal_res_const", np.nan)])
def test_bad_detector_settings_are_rejected(field, value):
    with pytest.raises(ConfigError, match=field):
        DetectorConfig(**{field: value})
