"""pT smearing (docs/methods.md §6): η and φ kept, σ = 0 exact, same seed same smear, width as asked."""

import pytest
import torch

from raysym.kinematics import to_ptetaphie
from raysym.smearing import smear_pt
from tests.synthetic import jet_momenta


def jets(seed=0):
    return jet_momenta(200, 32, seed, max_mass=0.3)


def test_zero_sigma_returns_identical_momenta():
    p4, mask = jets()
    assert torch.equal(smear_pt(p4, mask, 0.0, torch.Generator().manual_seed(1)), p4)


def test_smearing_keeps_eta_phi_and_scales_pt_with_requested_width():
    p4, mask = jets()
    smeared = smear_pt(p4, mask, 0.1, torch.Generator().manual_seed(1))
    before, after = to_ptetaphie(p4)[mask], to_ptetaphie(smeared)[mask]
    assert torch.allclose(after[:, 1:3], before[:, 1:3], atol=1e-12)
    ratio = after[:, 0] / before[:, 0]
    assert abs(ratio.std().item() - 0.1) < 0.01 and abs(ratio.mean().item() - 1) < 0.01
    assert torch.all(smeared[~mask] == 0)


def test_same_seed_gives_same_smear_and_other_seed_differs():
    p4, mask = jets()
    a = smear_pt(p4, mask, 0.3, torch.Generator().manual_seed(7))
    assert torch.equal(a, smear_pt(p4, mask, 0.3, torch.Generator().manual_seed(7)))
    assert not torch.equal(a, smear_pt(p4, mask, 0.3, torch.Generator().manual_seed(8)))


def test_negative_sigma_is_rejected():
    p4, mask = jets()
    with pytest.raises(ValueError, match="sigma"):
        smear_pt(p4, mask, -0.1, torch.Generator())
