"""numpy kinematics: the same conventions as the torch feature code (η = 0 at pT = 0, Δφ in (−π, π])."""

import math

import numpy as np
import torch

from raysym.features import wrap_phi as torch_wrap_phi
from raysym.numpy_kinematics import delta_r, pt_eta_phi, wrap_phi


def test_pt_eta_phi_known_values_and_zero_pt():
    pt, eta, phi = pt_eta_phi([3.0, 0.0], [4.0, 0.0], [0.0, 5.0])
    assert pt.tolist() == [5.0, 0.0] and eta.tolist() == [0.0, 0.0]
    assert phi[0] == math.atan2(4, 3)


def test_wrap_phi_matches_the_torch_features_convention():
    x = np.array([math.pi, -math.pi, 3 * math.pi, 0.5, -7.0, 2.0 * math.pi])
    assert np.allclose(wrap_phi(x), torch_wrap_phi(torch.tensor(x)).numpy())
    assert np.all((wrap_phi(x) > -math.pi) & (wrap_phi(x) <= math.pi))


def test_delta_r_across_the_phi_boundary():
    assert math.isclose(delta_r(0.0, math.pi - 0.1, 0.0, -math.pi + 0.1), 0.2, rel_tol=1e-12)
    assert math.isclose(delta_r(0.3, 0.0, 0.0, 0.4), 0.5, rel_tol=1e-12)
