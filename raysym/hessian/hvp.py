"""Hessian-vector products H·v of a :class:`~raysym.hessian.closure.LossClosure` (Pearlmutter's trick).

Every estimator in this package (power iteration, Lanczos, Hutchinson, Hutch++, SLQ) touches the Hessian
of Glowacki eq. 1 only through H·v, which costs about two backward passes and never forms H:

    H v = ∇_θ ( ∇_θ L(θ) · v ),

the inner gradient taken with ``create_graph=True``. Because L = Σ_b w_b L_b, H·v = Σ_b w_b H_b·v is
accumulated batch by batch, so only one batch's graph is alive at a time.

Fused scaled-dot-product-attention kernels (flash attention, also on CPU) have no double backward
(docs/methods.md §6), so the forward passes run inside :func:`~raysym.models.attention.math_attention` *here*:
callers need not remember it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from raysym.errors import ConfigError
from raysym.hessian.closure import LossClosure, flatten, unflatten
from raysym.models.attention import math_attention


class HessianOperator:
    """H as a linear operator: ``op(v)`` returns H·v; ``n_hvp`` counts the products computed.

    ``v`` may be a flat vector of ``n_params`` entries (the result is flat) or a list of tensors shaped
    like ``closure.params`` (the result is such a list). ``matmat`` applies H to the columns of a
    matrix, one HVP per column.
    """

    def __init__(self, closure: LossClosure):
        self.closure = closure
        self.n_hvp = 0

    @property
    def n_params(self) -> int:
        return self.closure.n_params

    @property
    def dtype(self) -> torch.dtype:
        return self.closure.dtype

    @property
    def device(self) -> torch.device:
        return self.closure.device

    def __call__(self, v: torch.Tensor | Sequence[torch.Tensor]):
        if isinstance(v, torch.Tensor):
            return self.matvec(v)
        params = self.closure.params
        if len(v) != len(params) or any(a.shape != p.shape for a, p in zip(v, params)):
            raise ConfigError("a list vector must hold one tensor shaped like each parameter")
        return unflatten(self.matvec(flatten(list(v), params)), params)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """H·v for a flat ``v`` (cast to the parameters' dtype and device)."""
        if v.dim() != 1 or v.numel() != self.n_params:
            raise ConfigError(f"a flat vector must have {self.n_params} entries, got shape {tuple(v.shape)}")
        params = self.closure.params
        v = v.to(dtype=self.dtype, device=self.device)
        pieces = unflatten(v, params)
        total = torch.zeros(self.n_params, dtype=self.dtype, device=self.device)
        with math_attention():
            for loss in self.closure.weighted_losses():
                grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
                dot = sum((g * u).sum() for g, u in zip(grads, pieces) if g is not None)
                if isinstance(dot, torch.Tensor) and dot.requires_grad:
                    hv = torch.autograd.grad(dot, params, allow_unused=True)
                    total += flatten(hv, params)
        self.n_hvp += 1
        return total

    def matmat(self, vectors: torch.Tensor) -> torch.Tensor:
        """H·V for an (n_params, k) matrix, column by column."""
        if vectors.dim() != 2:
            raise ConfigError(f"matmat needs an (n_params, k) matrix, got shape {tuple(vectors.shape)}")
        columns = [self.matvec(vectors[:, j]) for j in range(vectors.shape[1])]
        if not columns:
            return torch.zeros(self.n_params, 0, dtype=self.dtype, device=self.device)
        return torch.stack(columns, dim=1)


def as_operator(source: LossClosure | HessianOperator) -> HessianOperator:
    """An operator for ``source`` (a closure gets a fresh one; an operator is used as is, keeping its count)."""
    if isinstance(source, HessianOperator):
        return source
    if isinstance(source, LossClosure):
        return HessianOperator(source)
    raise ConfigError(f"expected a LossClosure or HessianOperator, got {type(source).__name__}")


def hvp(closure: LossClosure, v: torch.Tensor | Sequence[torch.Tensor]):
    """H·v once (see :class:`HessianOperator`)."""
    return HessianOperator(closure)(v)


def seeded_generator(*entropy: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of integers (mixed by numpy's SeedSequence).

    Random vectors are drawn on the CPU and then moved, so the same (seed, index) gives the same vector
    on any device and in any process — what lets probes and restarts be farmed out and recombined.
    """
    import numpy as np

    state = np.random.SeedSequence([int(e) for e in entropy]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0]) & ((1 << 63) - 1))


def random_normal(op: HessianOperator, *entropy: int) -> torch.Tensor:
    """A standard normal flat vector drawn from ``seeded_generator(*entropy)``."""
    g = seeded_generator(*entropy)
    return torch.randn(op.n_params, generator=g, dtype=torch.float64).to(dtype=op.dtype, device=op.device)


def rademacher(op: HessianOperator, *entropy: int) -> torch.Tensor:
    """A ±1 flat vector drawn from ``seeded_generator(*entropy)``."""
    g = seeded_generator(*entropy)
    signs = torch.randint(0, 2, (op.n_params,), generator=g, dtype=torch.int64) * 2 - 1
    return signs.to(dtype=op.dtype, device=op.device)
