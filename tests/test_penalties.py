"""Symmetry penalties: zero for Lorentz-invariant models, positive for generic ones, δSEAL = d/dt f(e^{tT}p)."""


import pytest
import torch
from torch import nn

from raysym.batch import JetBatch
from raysym.errors import ConfigError
from raysym.features import constituent_features
from raysym.kinematics import minkowski_dot
from raysym.lorentz import generators
from raysym.models.attention import math_attention
from raysym.models.registry import build_model
from raysym.penalties import DsealPenalty, NoPenalty, SealPenalty, make_penalty
from tests.synthetic import jet_momenta


def jets(n=24, n_const=12, seed=0, dtype=torch.float64):
    """Jet-like massless constituents around a random axis, with padding, half of them signal."""
    p4, mask = jet_momenta(n, n_const, seed, dtype=dtype, spread=0.3, min_real=3)
    return JetBatch(p4, mask, (torch.arange(n) % 2).to(dtype))


class InvariantToy(nn.Module):
    """Sees only pairwise Minkowski products: exactly Lorentz invariant by construction."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, p4, mask):
        dots = minkowski_dot(p4.unsqueeze(-2), p4.unsqueeze(-3))
        pair = (mask.unsqueeze(-1) & mask.unsqueeze(-2)).to(p4.dtype)
        x = torch.sign(dots) * torch.log1p(dots.abs())
        return self.net((x * pair).sum((-1, -2)).unsqueeze(-1) / pair.sum((-1, -2)).unsqueeze(-1)).squeeze(-1)


class FeatureToy(nn.Module):
    """A generic (non-invariant) model on the seven constituent features."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(7, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, p4, mask):
        feats = constituent_features(p4, mask)
        return 10 * (self.net(feats).squeeze(-1) * mask).sum(-1) / mask.sum(-1)


def small(kind):
    torch.manual_seed(0)
    return build_model(kind, "small").double()


class Standardised(nn.Module):
    """f scaled to unit logit spread on a reference batch: freshly initialised taggers output nearly
    constant probabilities, which would make any penalty tiny; the scale keeps invariance intact."""

    def __init__(self, model, batch):
        super().__init__()
        self.model = model
        with torch.no_grad():
            logits = model(batch.p4, batch.mask)
        self.shift, self.scale = logits.mean().item(), logits.std().item()

    def forward(self, p4, mask):
        return (self.model(p4, mask) - self.shift) / self.scale


@pytest.mark.parametrize("make_model", [InvariantToy, lambda: small("invariant")], ids=["toy", "invariant"])
def test_invariant_models_get_vanishing_seal_and_dseal(make_model):
    torch.manual_seed(0)
    batch = jets()
    model = Standardised(make_model().double(), batch)
    assert SealPenalty(torch.Generator().manual_seed(1))(model, batch) < 1e-5
    assert SealPenalty(torch.Generator().manual_seed(1), rotations=True)(model, batch) < 1e-5
    assert DsealPenalty()(model, batch) < 1e-6


@pytest.mark.parametrize("make_model", [FeatureToy, lambda: small("teacher"), lambda: small("dual")],
                         ids=["toy", "teacher", "dual"])
def test_generic_models_get_clearly_positive_seal_and_dseal(make_model):
    torch.manual_seed(0)
    batch = jets()
    model = Standardised(make_model().double(), batch)
    assert SealPenalty(torch.Generator().manual_seed(1))(model, batch) > 1e-3
    assert DsealPenalty()(model, batch) > 1e-3


@pytest.mark.parametrize("name", ["Kx", "Ky", "Kz", "Lx", "Ly"])
def test_dseal_lie_derivative_equals_finite_difference_along_each_generator(name):
    batch = jets(n=6)
    model = Standardised(small("teacher"), batch)
    gen = generators()[name]
    lie = DsealPenalty([name]).lie_derivatives(model, batch)[0].detach()

    def f(t):
        p4 = batch.p4 @ torch.linalg.matrix_exp(t * gen).T
        with torch.no_grad(), math_attention():
            return torch.sigmoid(model(p4, batch.mask))

    t = 1e-5
    central = (f(t) - f(-t)) / (2 * t)
    assert central.abs().max() > 1e-3  # the comparison is not between two zeros
    assert torch.allclose(lie, central, rtol=1e-3, atol=1e-3 * central.abs().max().item())


def test_rotation_about_the_beam_is_an_exact_symmetry_of_the_features():
    # Δη, Δφ, pT and E do not change when the whole jet turns about z, so D_Lz f vanishes for any
    # model on the docs/methods.md §2 features: δSEAL's Lz term is identically zero.
    batch = jets(n=6)
    model = Standardised(small("teacher"), batch)
    assert DsealPenalty(["Lz"]).lie_derivatives(model, batch).abs().max() < 1e-9


def test_dseal_penalty_is_mean_of_summed_squares_and_trains_the_weights():
    model, batch = FeatureToy().double(), jets()
    penalty = DsealPenalty(["Kx", "Lz"])
    lie = penalty.lie_derivatives(model, batch)
    value = penalty(model, batch)
    assert torch.allclose(value, lie.pow(2).sum(0).mean())
    grads = torch.autograd.grad(value, list(model.parameters()))
    assert all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)


class ScaledLogit(nn.Module):
    """The same model with its logit multiplied by ``scale``: the same decision function, steeper."""

    def __init__(self, model, scale):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, p4, mask):
        return self.scale * self.model(p4, mask)


@pytest.mark.parametrize("method", ["jvp", "grad"])
def test_normalised_dseal_is_invariant_to_the_scale_of_the_logit(method):
    # Per jet, D_a σ(cz) = σ'(cz)·c·D_a z and |∇σ(cz)|² = σ'(cz)²·c²·|∇z|²: their ratio does not depend on c,
    # while the plain penalty does.
    model, batch = FeatureToy().double(), jets()
    normalised, plain = DsealPenalty(normalised=True, method=method), DsealPenalty(method=method)
    values = [normalised(ScaledLogit(model, c), batch) for c in (1.0, 0.2, 3.0)]
    assert values[0] > 0
    assert torch.allclose(torch.stack(values), values[0].expand(3), rtol=1e-9, atol=0)
    assert not torch.allclose(plain(ScaledLogit(model, 0.2), batch), plain(model, batch), rtol=1e-3)


def test_seal_reuses_logits_and_follows_its_seed():
    model, batch = FeatureToy().double(), jets()
    a = SealPenalty(torch.Generator().manual_seed(3))(model, batch)
    b = SealPenalty(torch.Generator().manual_seed(3))(model, batch, logits=model(batch.p4, batch.mask))
    assert torch.equal(a, b)
    assert not torch.equal(a, SealPenalty(torch.Generator().manual_seed(4))(model, batch))


def test_no_penalty_is_zero():
    assert NoPenalty()(FeatureToy(), jets()) == 0


def test_bad_penalty_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown penalty 'sael'"):
        make_penalty("sael")
    with pytest.raises(ConfigError, match="subset of Kx"):
        make_penalty("dseal", generator_names=["Kq"])
    with pytest.raises(ConfigError, match="method must be one of"):
        make_penalty("dseal", method="fd")
    with pytest.raises(ConfigError, match="takes no options"):
        make_penalty("none", rotations=True)


@pytest.mark.parametrize("normalised", [False, True])
def test_dseal_reverse_mode_method_equals_forward_mode_in_value_and_weight_gradient(normalised):
    batch = jets(n=8)
    model = Standardised(small("teacher"), batch)
    values, grads = [], []
    for method in ("jvp", "grad"):
        value = DsealPenalty(normalised=normalised, method=method)(model, batch)
        values.append(value)
        # The normalised penalty is a function of ∇_p f alone, so the logit's last bias does not enter it.
        params = list(model.parameters())
        grads.append([torch.zeros_like(p) if g is None else g
                      for p, g in zip(params, torch.autograd.grad(value, params, allow_unused=True))])
    assert torch.allclose(values[0], values[1], rtol=1e-9)
    scale = max(g.abs().max().item() for g in grads[1])
    assert all(torch.allclose(a, b, rtol=1e-7, atol=1e-10 * scale) for a, b in zip(*grads))


def test_dseal_under_no_grad_gives_the_same_value_without_a_graph():
    batch = jets(n=8)
    model = Standardised(small("teacher"), batch)
    for method in ("jvp", "grad"):
        with torch.no_grad():
            value = DsealPenalty(method=method)(model, batch)
        assert not value.requires_grad
        assert torch.allclose(value, DsealPenalty(method=method)(model, batch))
