"""A model small enough for its dense Hessian, shared by the tests/test_hessian_*.py files; closure and HVP tests.

The toy is a one-layer transformer tagger (373 parameters) in float64 on 32 synthetic jets split into
three unequal batches. Its dense Hessian comes from ``torch.func.hessian`` of the mean BCE as a function
of the flat parameter vector (``functional_call``) — a path independent of raysym.hessian.
"""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from raysym.batch import JetBatch
from raysym.errors import ConfigError
from raysym.hessian import HessianOperator, LossClosure, evaluation_subset, hvp, training_loss_closure
from raysym.models.attention import math_attention
from raysym.models.registry import build_model
from tests.synthetic import jet_momenta

TOY_SIZES = dict(d_model=6, heads=2, ff=6, layers=1, head_widths=(6,))
SPLIT = (12, 12, 8)


def synthetic_jets(n_jets: int = 32, n_constituents: int = 8, seed: int = 0):
    """(p4, mask, y): wide 200 GeV jets of massive constituents, at least one real per jet, half signal.

    Wide jets give the trained toy a spread-out Hessian spectrum (checked below); narrow ones give a
    nearly rank-one Hessian on which every estimator is trivially right.
    """
    p4, mask = jet_momenta(n_jets, n_constituents, seed, jet_pt=200.0, spread=1.0, max_mass=0.3)
    return p4, mask, (torch.arange(n_jets) % 2).to(torch.float64)


class Toy:
    def __init__(self):
        torch.manual_seed(3)
        self.model = build_model("teacher", "small", **TOY_SIZES).double()
        self.p4, self.mask, self.y = synthetic_jets()
        train_briefly(self.model, self.p4, self.mask, self.y)
        self.full = JetBatch(self.p4, self.mask, self.y)
        edges = torch.tensor((0,) + SPLIT).cumsum(0).tolist()
        self.batches = [JetBatch(self.p4[a:b], self.mask[a:b], self.y[a:b]) for a, b in zip(edges, edges[1:])]
        self.closure = LossClosure(self.model, self.batches)
        self.dense = dense_hessian(self.model, self.full)
        self.eigenvalues = torch.linalg.eigvalsh(self.dense)  # ascending
        self.trace = float(self.dense.trace())
        self.n = self.dense.shape[0]


def train_briefly(model, p4, mask, y, steps: int = 150) -> None:
    """Adam on the toy set, so the Hessian is taken near a minimum as in the study (mostly positive)."""
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        F.binary_cross_entropy_with_logits(model(p4, mask), y).backward()
        optimiser.step()
    model.eval()
    for p in model.parameters():
        p.grad = None


def dense_hessian(model, batch: JetBatch) -> torch.Tensor:
    """∂²(mean BCE)/∂θ∂θ over the flat parameter vector, by torch.func.hessian + functional_call."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(flat):
        params, start = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = flat[start:start + shape.numel()].view(shape)
            start += shape.numel()
        logits = functional_call(model, params, (batch.p4, batch.mask))
        return F.binary_cross_entropy_with_logits(logits, batch.y)

    with math_attention():
        return torch.func.hessian(loss)(flat0).detach()


@lru_cache(maxsize=1)
def toy() -> Toy:
    return Toy()


def test_closure_loss_equals_the_full_set_mean_for_unequal_batches():
    t = toy()
    with torch.no_grad():
        full = float(F.binary_cross_entropy_with_logits(t.model(t.p4, t.mask), t.y))
    assert t.closure.loss() == pytest.approx(full, rel=1e-13)
    single = LossClosure(t.model, [t.full])
    assert torch.allclose(t.closure.gradient(), single.gradient(), rtol=1e-11, atol=1e-14)


def test_hvp_equals_dense_hessian_times_vector():
    t = toy()
    v = torch.randn(t.n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got = hvp(t.closure, v)
    want = t.dense @ v
    assert float((got - want).norm() / want.norm()) < 1e-10


def test_hvp_accumulated_over_three_batches_equals_one_big_batch():
    t = toy()
    v = torch.randn(t.n, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    split, whole = HessianOperator(t.closure), HessianOperator(LossClosure(t.model, [t.full]))
    a, b = split(v), whole(v)
    assert float((a - b).norm() / b.norm()) < 1e-12
    assert split.n_hvp == whole.n_hvp == 1


def test_hvp_accepts_a_list_of_tensors_shaped_like_the_parameters():
    t = toy()
    v = torch.randn(t.n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    pieces = [x.clone() for x in torch.split(v, [p.numel() for p in t.closure.params])]
    pieces = [x.view_as(p) for x, p in zip(pieces, t.closure.params)]
    out = HessianOperator(t.closure)(pieces)
    assert [o.shape for o in out] == [p.shape for p in t.closure.params]
    assert torch.allclose(torch.cat([o.reshape(-1) for o in out]), t.dense @ v, rtol=1e-10, atol=1e-13)


def test_hvp_selects_math_attention_itself_outside_any_context():
    t = toy()
    # Outside math_attention() the CPU flash kernel is chosen, and it has no double backward …
    loss = F.binary_cross_entropy_with_logits(t.model(t.p4, t.mask), t.y)
    grads = torch.autograd.grad(loss, list(t.model.parameters()), create_graph=True)
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.autograd.grad(sum(g.sum() for g in grads), list(t.model.parameters()))
    # … yet the operator, called from the same place, works.
    out = hvp(t.closure, torch.ones(t.n, dtype=torch.float64))
    assert torch.isfinite(out).all()


def test_closure_restores_the_training_mode_and_rejects_bad_vectors():
    t = toy()
    t.model.train()
    try:
        HessianOperator(t.closure)(torch.ones(t.n, dtype=torch.float64))
        assert t.model.training
    finally:
        t.model.eval()
    with pytest.raises(ConfigError):
        HessianOperator(t.closure)(torch.ones(t.n + 1, dtype=torch.float64))


def test_training_loss_closure_uses_the_same_seeded_jets_for_every_model():
    p4, mask, y = synthetic_jets(n_jets=50, seed=5)
    torch.manual_seed(0)
    a = training_loss_closure(build_model("teacher", "small", **TOY_SIZES), p4, mask, y, 8, n_jets=20, seed=7)
    b = training_loss_closure(build_model("student", "small", d_model=4, heads=2, ff=4, layers=1,
                                          head_widths=(4,)), p4, mask, y, 8, n_jets=20, seed=7)
    assert [len(x) for x in a.batches] == [8, 8, 4]
    assert a.weights == pytest.approx([0.4, 0.4, 0.2])
    for x, z in zip(a.batches, b.batches):
        assert torch.equal(x.p4, z.p4) and torch.equal(x.mask, z.mask)
    assert torch.equal(evaluation_subset(50, 10, 7), evaluation_subset(50, 20, 7)[:10])
    assert not torch.equal(evaluation_subset(50, 20, 7), evaluation_subset(50, 20, 8))
    with pytest.raises(ConfigError):
        training_loss_closure(a.model, p4, mask, y, 8, n_jets=51, seed=7)


def test_the_toy_hessian_is_a_fair_test_bed_indefinite_with_a_spread_spectrum():
    top = toy().eigenvalues.flip(0)
    assert top[0] < 3 * top[2] and toy().eigenvalues[0] < 0


def test_with_dropout_in_the_model_two_hvps_on_the_same_vector_are_identical():
    """The reference configuration trains with dropout 0.1; the Hessian is taken in eval mode, so it is of
    one deterministic function, whatever mode the model was left in (and that mode is given back)."""
    torch.manual_seed(0)
    model = build_model("teacher", "small", d_model=16, heads=2, ff=16, layers=1, head_widths=(8,), dropout=0.1,
                        jet_axis="pseudorapidity").double().train()
    p4, mask, y = synthetic_jets(16)
    closure = training_loss_closure(model, p4, mask, y, batch_size=8, n_jets=None)
    v = torch.randn(closure.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    first, second = hvp(closure, v), hvp(closure, v)
    assert torch.equal(first, second) and first.abs().max() > 0
    assert model.training
    with torch.no_grad():  # the check is not vacuous: in training mode the same model is random
        assert not torch.equal(model(p4, mask), model(p4, mask))
