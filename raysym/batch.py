"""The unit of jets that flows through models, penalties, training steps and Hessian closures."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class JetBatch:
    """B jets: ``p4`` (B, N, 4) (E, px, py, pz) GeV, ``mask`` (B, N) bool, ``y`` (B,) 0/1 targets or None,
    ``weight`` (B,) per-jet weights of a weighted data set or None (every jet counts once)."""

    p4: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor | None = None
    weight: torch.Tensor | None = None

    def to(self, device=None, dtype=None) -> "JetBatch":
        """Move to a device and/or cast the floating tensors (the mask stays bool)."""
        y = None if self.y is None else self.y.to(device=device, dtype=dtype or self.y.dtype)
        weight = None if self.weight is None else self.weight.to(device=device, dtype=dtype or self.weight.dtype)
        return JetBatch(self.p4.to(device=device, dtype=dtype or self.p4.dtype), self.mask.to(device), y, weight)

    def __len__(self) -> int:
        return self.p4.shape[0]


def batches(p4: torch.Tensor, mask: torch.Tensor, y: torch.Tensor | None, batch_size: int, order=None,
            weight: torch.Tensor | None = None):
    """Yield ``JetBatch``es of at most ``batch_size`` jets, in ``order`` (indices) or as stored.

    The one way jets are cut into batches, so training, evaluation and Hessian closures see the same
    batches for the same jets and batch size.
    """
    n = p4.shape[0]
    for start in range(0, n, batch_size):
        index = slice(start, start + batch_size) if order is None else order[start:start + batch_size]
        yield JetBatch(p4[index], mask[index], None if y is None else y[index],
                       None if weight is None else weight[index])
