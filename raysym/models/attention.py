"""Multi-head self-attention over padded constituents, on ``scaled_dot_product_attention``.

Why not ``nn.MultiheadAttention``: the studies need second derivatives (Hessian of the loss w.r.t. the
weights, docs/methods.md §6) and forward-mode Jacobian-vector products (δSEAL, docs/methods.md §3.2) of the same model that
trains fast. ``torch.nn.functional.scaled_dot_product_attention`` gives both: fused kernels during normal
training, and — inside :func:`math_attention` — the plain composite "math" implementation, which
supports double backward and ``torch.func.jvp`` (fused kernels have no double backward, docs/methods.md §6).

Padding is a boolean key mask: padded constituents are never attended *to*. Padded *queries* still
attend to the real keys of their jet, so their (unused) outputs stay finite; a jet with no real
constituent at all (never produced by the data, but possible in a padded batch) is given an all-True
key mask so that even it cannot create NaN.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel


@contextmanager
def math_attention() -> Iterator[None]:
    """Select the math SDPA backend for the enclosed calls.

    Wrap Hessian-vector products and δSEAL Jacobian-vector products in it::

        with math_attention():
            hvp = torch.autograd.grad(grad @ v, params)
    """
    with sdpa_kernel(SDPBackend.MATH):
        yield


def safe_key_mask(mask: torch.Tensor) -> torch.Tensor:
    """The key mask for attention: ``mask``, except that a jet with no real constituent attends to all.

    Softmax over an all-masked row is 0/0; opening such a row keeps everything finite, and the pooled
    output of an empty jet is masked out anyway.
    """
    mask = mask.bool()
    return mask | ~mask.any(dim=-1, keepdim=True)


class MultiHeadSelfAttention(nn.Module):
    """Standard multi-head self-attention (one packed q/k/v projection and an output projection).

    Same parameter layout and count as ``nn.MultiheadAttention(d_model, heads)``: 4·d² + 4·d.
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by heads {heads}")
        self.d_model, self.heads, self.dropout = d_model, heads, dropout
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """``x`` (B, N, d), ``key_mask`` (B, N) bool (True = real, at least one per jet) → (B, N, d)."""
        batch, n, _ = x.shape
        q, k, v = self.in_proj(x).view(batch, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(
            q, k, v,
            attn_mask=key_mask[:, None, None, :],
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, n, self.d_model))
