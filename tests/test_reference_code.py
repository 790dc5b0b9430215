"""raysym against the SEAL authors' public top-tagging code, number for number (docs/methods.md §4, "raysym
against the reference code").

tests/data/seal_reference.json holds what that code computed (its commit and how are in the file's
"about"): the seven features of eight fixed jets, the outputs, GSEAL and δSEAL per jet of a fixed
transformer on five of them, and the momenta its own boost made. With the reference settings
(Δη against the jet's pseudorapidity, no input standardisation, eval mode) raysym must agree to 1e-6
relative. The one known exception is named and checked exactly: the reference wraps Δφ with a float32 π.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from raysym.batch import JetBatch
from raysym.features import FEATURE_NAMES, constituent_features
from raysym.lorentz import apply_lorentz, boost_matrix
from raysym.models.transformer import JetTransformer, TransformerConfig
from raysym.penalties import DsealPenalty

REFERENCE = json.loads((Path(__file__).parent / "data" / "seal_reference.json").read_text())
RTOL = 1e-6
DPHI = FEATURE_NAMES.index("dphi")
#: What the reference's wrap adds or takes away instead of 2π: twice π rounded to float32.
FLOAT32_TWO_PI = 2 * float(np.float32(math.pi))


def tensor(name):
    return torch.tensor(REFERENCE[name], dtype=torch.float64)


@pytest.fixture(scope="module")
def jets():
    return tensor("p4"), torch.tensor(REFERENCE["mask"])


@pytest.fixture(scope="module")
def model():
    settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in REFERENCE["model"].items() if k != "mode"}
    net = JetTransformer(TransformerConfig(**settings)).double()
    net.load_state_dict({name: torch.tensor(value, dtype=torch.float64)
                         for name, value in REFERENCE["weights"].items()})
    return net.eval()


def full(jets):
    n = REFERENCE["n_full"]
    p4, mask = jets
    return p4[:n], mask[:n]


def assert_close(ours, theirs):
    scale = theirs.abs().clamp_min(1e-300)
    worst = ((ours - theirs).abs() / scale).max().item()
    assert worst < RTOL, f"largest relative difference {worst:.2e}"


def test_the_reference_data_covers_padding_a_phi_wrap_and_massive_constituents(jets):
    p4, mask = jets
    assert (~mask).any() and mask[: REFERENCE["n_full"]].all()
    assert (tensor("features")[..., DPHI].abs() > 0).any()
    wrapped = _wrapped_slots(p4, mask)
    assert wrapped.sum() >= 2, "a jet straddling φ = ±π is what exercises the wrap"
    real = p4[mask]
    assert (real[:, 0] ** 2 - (real[:, 1:] ** 2).sum(-1) > 1e-3).any(), "massive constituents make the axes differ"


def _wrapped_slots(p4, mask):
    """Slots whose raw φ − φ_jet lies outside (−π, π]: where a wrap adds or takes away 2π."""
    jet = (p4 * mask[..., None]).sum(1, keepdim=True)
    raw = torch.atan2(p4[..., 2], p4[..., 1]) - torch.atan2(jet[..., 2], jet[..., 1])
    return mask & ((raw > math.pi) | (raw <= -math.pi))


def test_the_seven_features_agree_with_the_reference(jets):
    p4, mask = jets
    ours = constituent_features(p4, mask, "pseudorapidity")
    theirs = tensor("features")
    wrapped = _wrapped_slots(p4, mask)
    # Where Δφ was wrapped, the reference moved it by 2·float32(π), raysym by 2π: exactly that apart (a raw
    # Δφ ≤ −π had 2π added and came out positive; one above π had 2π taken away).
    shift = torch.where(ours[..., DPHI] > 0, 1.0, -1.0) * (2 * math.pi - FLOAT32_TWO_PI)
    expected_dphi = torch.where(wrapped, theirs[..., DPHI] + shift, theirs[..., DPHI])
    assert torch.allclose(ours[..., DPHI][wrapped], expected_dphi[wrapped], rtol=0, atol=1e-12)
    theirs = theirs.clone()
    theirs[..., DPHI] = expected_dphi
    # ΔR of a wrapped slot inherits the same shift through Δφ: compare it against the shifted Δφ too.
    delta_r = FEATURE_NAMES.index("delta_r")
    theirs[..., delta_r] = torch.where(wrapped, torch.hypot(theirs[..., 0], expected_dphi), theirs[..., delta_r])
    assert_close(ours[mask], theirs[mask])
    assert torch.all(ours[~mask] == 0) and torch.all(tensor("features")[~mask] == 0)


def test_the_rapidity_axis_is_a_real_difference_from_the_reference(jets):
    p4, mask = jets
    deta = constituent_features(p4, mask, "rapidity")[..., 0][mask]
    reference = tensor("features")[..., 0][mask]
    assert (deta - reference).abs().max() > 1e-4


def test_outputs_agree_with_the_reference_model(model, jets):
    p4, mask = full(jets)
    with torch.no_grad():
        ours = torch.sigmoid(model(p4, mask))
    assert_close(ours, tensor("probability"))


def test_the_reference_boost_is_raysyms_boost_law_to_float32_precision(jets):
    """The reference boosts in float32; its β (read back from a particle at rest) through raysym's boost
    matrix gives its boosted momenta to float32 accuracy."""
    p4, mask = full(jets)
    beta = tensor("boost_beta_from_rest_particle")
    assert torch.all((beta**2).sum(-1) <= 0.95 + 1e-6)
    ours = apply_lorentz(p4, boost_matrix(beta)) * mask[..., None]
    theirs = tensor("boosted_p4")
    scale = theirs[..., :1].abs().clamp_min(1.0)  # each constituent's energy sets its precision
    assert ((ours - theirs).abs() / scale).max() < 3e-6


def test_gseal_per_jet_agrees_with_the_reference(model, jets):
    p4, mask = full(jets)
    with torch.no_grad():
        original = torch.sigmoid(model(p4, mask))
        boosted = torch.sigmoid(model(tensor("boosted_p4"), mask))
    assert_close((original - boosted) ** 2, tensor("gseal_per_jet"))


@pytest.mark.parametrize("method", DsealPenalty.METHODS)
def test_dseal_per_jet_over_all_six_generators_agrees_with_the_reference(model, jets, method):
    p4, mask = full(jets)
    lie = DsealPenalty(method=method).lie_derivatives(model, JetBatch(p4, mask))
    assert_close(lie.detach().pow(2).sum(0), tensor("dseal_per_jet"))


def test_in_training_mode_the_reference_dropout_changes_outputs_and_in_eval_mode_nothing_does(model, jets):
    p4, mask = full(jets)
    with torch.no_grad():
        evaluated = [model(p4, mask) for _ in range(2)]
        model.train()
        try:
            trained = [model(p4, mask) for _ in range(2)]
        finally:
            model.eval()
    assert torch.equal(*evaluated)
    assert not torch.equal(*trained)
