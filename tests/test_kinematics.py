"""Four-momentum bookkeeping: coordinate round trips, jet sums, masses, finite gradients at padding."""

import math

import torch

from raysym.kinematics import from_ptetaphie, invariant_mass, jet_p4, minkowski_dot, to_ptetaphie


def test_ptetaphie_round_trip_float32_and_float64():
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        g = torch.Generator().manual_seed(0)
        kin = torch.stack(
            [torch.rand(50, generator=g) * 500 + 1, torch.randn(50, generator=g) * 2,
             (torch.rand(50, generator=g) * 2 - 1) * math.pi, torch.zeros(50)], -1).to(dtype)
        p4 = from_ptetaphie(kin)
        p4[:, 0] = torch.sqrt((p4[:, 1:] ** 2).sum(-1) + 0.2**2)
        back = to_ptetaphie(p4)
        assert back.dtype == dtype
        assert torch.allclose(back[:, :3], kin[:, :3], rtol=tol, atol=tol)
        assert torch.allclose(from_ptetaphie(back), p4, rtol=tol, atol=tol * 100)


def test_known_values():
    p4 = torch.tensor([[10.0, 3.0, 4.0, 0.0]], dtype=torch.float64)
    pt, eta, phi, e = to_ptetaphie(p4)[0]
    assert pt == 5.0 and eta == 0.0 and abs(phi - math.atan2(4, 3)) < 1e-15 and e == 10.0
    assert abs(invariant_mass(p4)[0] - math.sqrt(100 - 25)) < 1e-12
    assert minkowski_dot(p4, p4)[0] == 75.0


def test_jet_sum_ignores_masked_rows():
    p4 = torch.tensor([[[10.0, 1, 2, 3], [5.0, 1, 1, 1], [99.0, 9, 9, 9]]])
    mask = torch.tensor([[True, True, False]])
    assert torch.equal(jet_p4(p4, mask), torch.tensor([[15.0, 2, 3, 4]]))


def test_padding_rows_have_finite_gradients():
    p4 = torch.zeros(1, 3, 4, dtype=torch.float64)
    p4[0, 0] = torch.tensor([10.0, 3.0, 4.0, 1.0])
    p4.requires_grad_(True)
    out = to_ptetaphie(p4).sum() + invariant_mass(p4).sum()
    (grad,) = torch.autograd.grad(out, p4)
    assert torch.isfinite(grad).all()
