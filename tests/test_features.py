"""Constituent features (docs/methods.md §2): hand-computed values, Δφ wrapping, padding, boost invariances."""

import math

import pytest
import torch

from raysym.errors import ConfigError
from raysym.features import FEATURE_NAMES, constituent_features, wrap_phi
from raysym.lorentz import apply_lorentz, boost_matrix, generators
from tests.synthetic import jet_momenta


def massless(pt, eta, phi):
    return [pt * math.cosh(eta), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)]


def hand_features(particles, jet_axis="rapidity"):
    """The seven features of docs/methods.md §2 written out with scalar math, independently of the module."""
    jet = [sum(p[i] for p in particles) for i in range(4)]
    jet_pt = math.hypot(jet[1], jet[2])
    if jet_axis == "rapidity":
        jet_y = 0.5 * math.log((jet[0] + jet[3]) / (jet[0] - jet[3]))
    else:
        jet_y = math.asinh(jet[3] / jet_pt)
    jet_phi = math.atan2(jet[2], jet[1])
    rows = []
    for e, px, py, pz in particles:
        pt = math.hypot(px, py)
        eta = math.asinh(pz / pt)
        dphi = math.atan2(py, px) - jet_phi
        while dphi > math.pi:
            dphi -= 2 * math.pi
        while dphi <= -math.pi:
            dphi += 2 * math.pi
        deta = eta - jet_y
        rows.append([deta, dphi, math.log(pt / jet_pt), math.log(pt), math.log(e / jet[0]), math.log(e),
                     math.hypot(deta, dphi)])
    return rows


def test_two_particle_jet_across_phi_boundary_matches_hand_computation():
    # One particle just below +π, one just above −π: the jet sits at φ ≈ ±π, and Δφ must be small.
    particles = [massless(100.0, 0.5, math.pi - 0.1), massless(50.0, -0.2, -math.pi + 0.15)]
    p4 = torch.tensor([particles + [[0.0] * 4]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    feats = constituent_features(p4, mask)[0]
    expected = torch.tensor(hand_features(particles), dtype=torch.float64)
    assert torch.allclose(feats[:2], expected, rtol=1e-12, atol=1e-12)
    assert feats[:2, 1].abs().max() < 0.2
    assert torch.all(feats[2] == 0)


@pytest.mark.parametrize("jet_axis", ["rapidity", "pseudorapidity"])
def test_massive_jet_features_match_hand_computation_for_either_jet_axis(jet_axis):
    # Two well-separated constituents make a jet with a large mass, where rapidity and pseudorapidity differ.
    particles = [massless(300.0, 0.9, 0.2), massless(200.0, 0.1, -0.4), [40.0, 10.0, 5.0, 30.0]]
    p4 = torch.tensor([particles], dtype=torch.float64)
    mask = torch.ones(1, 3, dtype=torch.bool)
    feats = constituent_features(p4, mask, jet_axis)[0]
    assert torch.allclose(feats, torch.tensor(hand_features(particles, jet_axis), dtype=torch.float64),
                          rtol=1e-12, atol=1e-12)


def test_the_two_jet_axes_differ_by_the_jets_pseudorapidity_minus_rapidity():
    p4, mask = jets_of_massless_constituents()
    shift = constituent_features(p4, mask, "rapidity")[..., 0] - constituent_features(p4, mask, "pseudorapidity")[..., 0]
    jet = (p4 * mask[..., None]).sum(1)
    expected = torch.asinh(jet[:, 3] / jet[:, 1:3].norm(dim=-1)) - torch.atanh(jet[:, 3] / jet[:, 0])
    assert torch.allclose(shift[mask], expected[:, None].expand_as(shift)[mask], atol=1e-12)
    assert expected.abs().max() > 1e-3  # massive jets: the axes really differ


def test_an_unknown_jet_axis_is_a_config_error_naming_the_choices():
    p4, mask = jets_of_massless_constituents(n_jets=1)
    with pytest.raises(ConfigError, match="unknown jet axis 'beam'; choose one of rapidity, pseudorapidity"):
        constituent_features(p4, mask, "beam")


def test_wrap_phi_range_is_half_open_at_minus_pi():
    x = torch.tensor([math.pi, -math.pi, 3 * math.pi, 0.5, -7.0], dtype=torch.float64)
    wrapped = wrap_phi(x)
    assert torch.allclose(wrapped[:3], torch.full((3,), math.pi, dtype=torch.float64))
    assert torch.all((wrapped > -math.pi) & (wrapped <= math.pi))
    assert torch.allclose(torch.cos(wrapped), torch.cos(x)) and torch.allclose(torch.sin(wrapped), torch.sin(x))


def jets_of_massless_constituents(n_jets=8, n_const=32, seed=0):
    return jet_momenta(n_jets, n_const, seed, jet_pt=500.0, spread=0.3, min_real=2)


@pytest.mark.parametrize("beta_z", [-0.9, -0.3, 0.5, 0.97])
def test_longitudinal_boost_leaves_deta_dphi_logpt_invariant_for_massless_constituents(beta_z):
    p4, mask = jets_of_massless_constituents()
    boosted = apply_lorentz(p4, boost_matrix(torch.tensor([0.0, 0.0, beta_z], dtype=torch.float64)))
    before, after = constituent_features(p4, mask), constituent_features(boosted, mask)
    invariant = [FEATURE_NAMES.index(n) for n in ("deta", "dphi", "log_ptrel", "log_pt", "delta_r")]
    assert torch.allclose(after[..., invariant], before[..., invariant], atol=1e-9)
    # The energies do change: the check is not vacuous.
    assert (after[..., FEATURE_NAMES.index("log_e")] - before[..., FEATURE_NAMES.index("log_e")]).abs().max() > 0.1


def test_against_the_jets_pseudorapidity_a_longitudinal_boost_moves_delta_eta():
    """The reference's axis: Δη of a massive jet's constituents is not invariant along the beam, so a
    symmetry penalty has that to teach, where the rapidity axis gives it for free."""
    p4, mask = jets_of_massless_constituents()
    boosted = apply_lorentz(p4, boost_matrix(torch.tensor([0.0, 0.0, 0.9], dtype=torch.float64)))
    before = constituent_features(p4, mask, "pseudorapidity")[..., 0]
    after = constituent_features(boosted, mask, "pseudorapidity")[..., 0]
    assert (after - before)[mask].abs().max() > 1e-3


def test_transverse_boost_changes_angular_features():
    p4, mask = jets_of_massless_constituents()
    boosted = apply_lorentz(p4, boost_matrix(torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)))
    assert (constituent_features(boosted, mask) - constituent_features(p4, mask)).abs().max() > 0.05


def test_features_keep_dtype_and_padding_rows_are_zero():
    p4, mask = jets_of_massless_constituents()
    for dtype in (torch.float32, torch.float64):
        feats = constituent_features(p4.to(dtype), mask)
        assert feats.dtype == dtype and feats.shape == (*mask.shape, 7)
        assert torch.all(feats[~mask] == 0) and torch.isfinite(feats).all()


def test_features_have_finite_backward_and_forward_mode_derivatives():
    p4, mask = jets_of_massless_constituents(n_jets=3)
    p4 = p4.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(constituent_features(p4, mask).sum(), p4)
    assert torch.isfinite(grad).all()
    tangent = apply_lorentz(p4.detach(), generators()["Kx"])
    _, jvp = torch.func.jvp(lambda x: constituent_features(x, mask), (p4.detach(),), (tangent,))
    assert torch.isfinite(jvp).all() and jvp.abs().max() > 0


def test_standardised_features_are_order_one_and_keep_padding_zero():
    from raysym.features import standardise_features

    p4, mask = jets_of_massless_constituents(n_jets=64)
    scaled = standardise_features(constituent_features(p4, mask), mask)
    assert torch.all(scaled[~mask] == 0)
    assert scaled[mask].abs().mean(0).max() < 3
