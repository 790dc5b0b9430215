"""The loss whose Hessian we study, as a closure over the model's parameters (docs/methods.md §6, Glowacki eq. 1).

Glowacki eq. 1 defines H_ij = ∂²L(w)/∂w_i∂w_j for "the loss" at the trained weights. Every routine in
:mod:`raysym.hessian` sees that loss only through a :class:`LossClosure`: a model, a fixed list of
batches and a ``loss_fn(model, batch) -> scalar``. That keeps the routines free of any assumption on the
model's inputs (PyHessian's one-tensor ``model(inputs)``, STYLE.md): masks, padded constituents and
other batch layouts live inside ``loss_fn``.

The loss is a weighted sum over the batches,

    L(θ) = Σ_b w_b L_b(θ),   w_b = n_b / N,   N = Σ_b n_b,

so that when ``L_b`` is the mean over the n_b jets of batch b (the default binary cross-entropy), L is
*exactly* the mean over all N jets, however they are split. Because differentiation is linear, the
gradient and every Hessian-vector product accumulate batch by batch with the same weights, and memory
stays that of one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raysym.batch import JetBatch
from raysym.batch import batches as split_batches
from raysym.errors import ConfigError, positive_int
from raysym.models.attention import math_attention

LossFn = Callable[[nn.Module, JetBatch], torch.Tensor]


def bce_loss(model: nn.Module, batch: JetBatch) -> torch.Tensor:
    """Mean binary cross-entropy of the model's logits against ``batch.y`` (the training loss, docs/methods.md §4)."""
    if batch.y is None:
        raise ConfigError("the default Hessian loss needs targets: the batch has y=None")
    logits = model(batch.p4, batch.mask)
    return F.binary_cross_entropy_with_logits(logits, batch.y.to(logits.dtype))


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put ``model`` in eval mode for the enclosed code and restore its mode afterwards.

    The Hessian is of a deterministic function: with dropout active every HVP would see a different loss.
    """
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class LossClosure:
    """L(θ) = Σ_b (n_b/N) · loss_fn(model, batch_b), over the model's trainable parameters.

    ``batches`` are cast once to the parameters' floating dtype and device (so ``model.double()`` gives a
    float64 Hessian); the model is evaluated in eval mode. ``weights`` overrides n_b/N (they must then
    be whatever the caller means L to be — no renormalisation is done).

    Attributes: ``params`` (trainable tensors, in ``model.parameters()`` order — the order of every
    flat vector in this package), ``batches``, ``weights``, ``n_params``.
    """

    def __init__(self, model: nn.Module, batches: Sequence[JetBatch], loss_fn: LossFn | None = None,
                 weights: Sequence[float] | None = None):
        self.model = model
        self.loss_fn = loss_fn or bce_loss
        self.params: list[torch.Tensor] = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise ConfigError("the model has no trainable parameters")
        batches = list(batches)
        if not batches or any(len(b) == 0 for b in batches):
            raise ConfigError("a loss closure needs at least one batch and no empty batch")
        dtype, device = self.params[0].dtype, self.params[0].device
        self.batches = [b.to(device=device, dtype=dtype) for b in batches]
        if weights is None:
            total = sum(len(b) for b in self.batches)
            weights = [len(b) / total for b in self.batches]
        elif len(weights) != len(self.batches):
            raise ConfigError(f"{len(weights)} weights for {len(self.batches)} batches")
        self.weights = [float(w) for w in weights]

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.params)

    @property
    def n_jets(self) -> int:
        return sum(len(b) for b in self.batches)

    @property
    def dtype(self) -> torch.dtype:
        return self.params[0].dtype

    @property
    def device(self) -> torch.device:
        return self.params[0].device

    def weighted_losses(self) -> Iterator[torch.Tensor]:
        """Yield w_b·L_b(θ) batch by batch, with autograd history (eval mode, math attention, and never
        autocast: a caller inside a bf16 training region must still get the float32 Hessian)."""
        device_type = self.batches[0].p4.device.type if self.batches else "cpu"
        with eval_mode(self.model), math_attention(), torch.autocast(device_type, enabled=False):
            for weight, batch in zip(self.weights, self.batches):
                yield weight * self.loss_fn(self.model, batch)

    def loss(self) -> float:
        """L(θ) as a Python float (no graph kept)."""
        with torch.no_grad():
            return float(sum(loss.double() for loss in self.weighted_losses()))

    def gradient(self) -> torch.Tensor:
        """∇L(θ) as one flat vector (parameters concatenated in ``params`` order)."""
        total = torch.zeros(self.n_params, dtype=self.dtype, device=self.device)
        for loss in self.weighted_losses():
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            total += flatten(grads, self.params)
        return total


def flatten(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate ``tensors`` (None counts as zeros shaped like the matching entry of ``like``)."""
    return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in zip(tensors, like)])


def unflatten(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into tensors shaped like ``like`` (views of ``flat``)."""
    out, start = [], 0
    for p in like:
        out.append(flat[start:start + p.numel()].view_as(p))
        start += p.numel()
    if start != flat.numel():
        raise ConfigError(f"a flat vector of {flat.numel()} entries for {start} parameters")
    return out


def evaluation_subset(n_total: int, n_jets: int | None, seed: int) -> torch.Tensor:
    """Indices of a fixed, seeded subset of ``n_jets`` of ``n_total`` jets (all of them if None).

    A seeded permutation's prefix: the same jets for every model given (n_total, seed), and subsets of
    different sizes are nested, so a larger evaluation set only adds jets.
    """
    if n_jets is None:
        n_jets = n_total
    if isinstance(n_jets, bool) or not isinstance(n_jets, int) or not 0 < n_jets <= n_total:
        raise ConfigError(f"n_jets must be an integer in [1, {n_total}], got {n_jets!r}")
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 0x4E55]).generate_state(1)[0]))
    return torch.randperm(n_total, generator=generator)[:n_jets]


def training_loss_closure(model: nn.Module, jets_p4, mask, y, batch_size: int, n_jets: int | None,
                          seed: int = 0, loss_fn: LossFn | None = None) -> LossClosure:
    """The training loss on a fixed, seeded evaluation subset of jets, split into ``batch_size`` batches.

    The paper evaluates the Hessian of the training loss (Glowacki §3.4); a subset keeps each HVP
    affordable, and seeding it makes every model see the same jets, so ratios of λ1 and Tr(H) between
    models compare loss geometries rather than jet samples.
    """
    positive_int("batch_size", batch_size)
    jets_p4, mask, y = torch.as_tensor(jets_p4), torch.as_tensor(mask).bool(), torch.as_tensor(y)
    index = evaluation_subset(jets_p4.shape[0], n_jets, seed)
    chosen = split_batches(jets_p4[index], mask[index], y[index], batch_size)
    return LossClosure(model, list(chosen), loss_fn=loss_fn)
