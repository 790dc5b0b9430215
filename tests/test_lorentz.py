"""Lorentz transformations: boosts keep masses, inverses undo them, generators exponentiate to them."""

import math

import pytest
import torch

from raysym.kinematics import invariant_mass, jet_p4, mass_squared
from raysym.lorentz import (
    BETA2_MAX,
    apply_lorentz,
    boost_matrix,
    generators,
    random_boost_velocities,
    random_boosts,
    random_rotations,
    rotation_matrix,
)
from tests.synthetic import jet_momenta

METRIC = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))


def random_jets(n_jets=16, n_const=32, seed=0, dtype=torch.float64):
    """Massive constituents with a jet-like spread and some padding."""
    return jet_momenta(n_jets, n_const, seed, dtype=dtype, jet_pt=300.0, spread=0.3, max_mass=0.5)


def test_boost_matrices_preserve_the_minkowski_metric():
    lam = random_boosts(64, torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(lam.transpose(1, 2) @ METRIC @ lam, METRIC.expand(64, 4, 4), atol=1e-12)
    assert torch.allclose(lam, lam.transpose(1, 2))


def test_boost_preserves_every_constituent_and_jet_mass_float64():
    p4, mask = random_jets()
    lam = random_boosts(len(p4), torch.Generator().manual_seed(2), dtype=torch.float64)
    boosted = apply_lorentz(p4, lam)
    m2_before, m2_after = mass_squared(p4)[mask], mass_squared(boosted)[mask]
    assert torch.all(torch.abs(m2_after - m2_before) <= 1e-9 * p4[..., 0][mask] ** 2)
    m_jet, m_jet_boosted = invariant_mass(jet_p4(p4, mask)), invariant_mass(jet_p4(boosted, mask))
    assert torch.all(torch.abs(m_jet_boosted / m_jet - 1) < 1e-9)
    # Boosts really moved the jets (otherwise the check above is empty).
    assert torch.all(torch.abs(boosted[..., 0][mask] - p4[..., 0][mask]).max() > 1.0)


def test_inverse_boost_undoes_boost():
    p4, mask = random_jets()
    beta = random_boost_velocities(len(p4), torch.Generator().manual_seed(3), dtype=torch.float64)
    back = apply_lorentz(apply_lorentz(p4, boost_matrix(beta)), boost_matrix(-beta))
    assert torch.allclose(back, p4, rtol=1e-12, atol=1e-9)
    assert torch.all(back[~mask] == 0)


def test_random_boost_speeds_follow_the_seal_distribution():
    beta = random_boost_velocities(20000, torch.Generator().manual_seed(4), dtype=torch.float64)
    b2 = (beta**2).sum(-1)
    assert b2.max() <= BETA2_MAX
    # β² ~ U(0, 0.95): mean 0.475, and directions isotropic (mean unit vector ≈ 0).
    assert abs(b2.mean().item() - BETA2_MAX / 2) < 0.01
    assert (beta / b2.sqrt().unsqueeze(-1)).mean(0).abs().max() < 0.03


def test_random_boosts_are_reproducible_by_seed_and_dtype_independent():
    a = random_boosts(8, torch.Generator().manual_seed(5), dtype=torch.float64)
    b = random_boosts(8, torch.Generator().manual_seed(5), dtype=torch.float32)
    assert torch.allclose(a.float(), b)
    assert not torch.allclose(a, random_boosts(8, torch.Generator().manual_seed(6), dtype=torch.float64))


def test_boost_rejects_superluminal_velocity():
    with pytest.raises(ValueError, match="< 1"):
        boost_matrix(torch.tensor([[0.0, 0.0, 1.0]]))


def test_rotations_are_orthogonal_keep_energy_and_match_the_axis_angle():
    rot = random_rotations(32, torch.Generator().manual_seed(7), dtype=torch.float64)
    assert torch.allclose(rot.transpose(1, 2) @ rot, torch.eye(4, dtype=torch.float64).expand(32, 4, 4), atol=1e-12)
    quarter = rotation_matrix(torch.tensor([0.0, 0.0, math.pi / 2], dtype=torch.float64))
    p = torch.tensor([5.0, 1.0, 0.0, 2.0], dtype=torch.float64)
    assert torch.allclose(quarter @ p, torch.tensor([5.0, 0.0, 1.0, 2.0], dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_generators_exponentiate_to_boosts_and_rotations(axis):
    gens = generators()
    t = 0.37
    direction = torch.zeros(3, dtype=torch.float64)
    direction[axis] = 1.0
    boost = torch.linalg.matrix_exp(t * gens["KxKyKz"[2 * axis:2 * axis + 2]])
    assert torch.allclose(boost, boost_matrix(-math.tanh(t) * direction), atol=1e-12)
    rot = torch.linalg.matrix_exp(t * gens["LxLyLz"[2 * axis:2 * axis + 2]])
    assert torch.allclose(rot, rotation_matrix(-t * direction), atol=1e-12)
