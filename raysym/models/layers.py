"""Small building blocks shared by the models: ReLU MLPs and masked means."""

from __future__ import annotations

import torch
from torch import nn

from raysym.errors import ConfigError, positive_int


def mlp(in_dim: int, widths: tuple[int, ...], out_dim: int | None = None) -> nn.Sequential:
    """Linear+ReLU for every width in ``widths``; then a bare Linear to ``out_dim`` if one is given."""
    layers: list[nn.Module] = []
    prev = in_dim
    for width in widths:
        layers += [nn.Linear(prev, width), nn.ReLU()]
        prev = width
    if out_dim is not None:
        layers.append(nn.Linear(prev, out_dim))
    return nn.Sequential(*layers)


class ClassifierHead(nn.Module):
    """MLP ``in_dim → widths… → 1`` with ReLU between layers; returns (B,) logits."""

    def __init__(self, in_dim: int, widths: tuple[int, ...]):
        super().__init__()
        self.net = mlp(in_dim, widths, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over the entries of ``dim`` where ``mask`` is True (an empty set gives 0).

    ``mask`` broadcasts against ``x`` without its trailing feature axis. Masked-out entries are removed
    with ``where``, not multiplied by 0, so even inf/NaN there cannot leak into the result.
    """
    m = mask.unsqueeze(-1)
    total = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim)
    count = m.sum(dim).clamp_min(1).to(x.dtype)
    return total / count


def positive_widths(name: str, values, allow_empty: bool = True) -> tuple[int, ...]:
    """A tuple of positive layer widths (lists from JSON are accepted), else ``ConfigError``."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{name} must be a sequence of positive integers, got {values!r}")
    widths = tuple(values)
    if not widths and not allow_empty:
        raise ConfigError(f"{name} must not be empty")
    for i, width in enumerate(widths):
        positive_int(f"{name}[{i}]", width)
    return widths


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis, written with plain tensor operations.

    Same parameters and forward values as ``nn.LayerNorm(dim)``. Why not that: torch's fused kernel
    saves the mean and 1/σ without autograd history, so derivatives that go through its derivative
    formulas again come out silently wrong — reverse mode through its forward-mode derivative (exactly
    what training with δSEAL does: measured 42.6 against a finite difference of 2.59 in torch 2.13), and
    third-order derivatives such as a Hessian of a δSEAL-trained loss (pytorch/pytorch#196700, #176218).
    Composed of mean, subtraction and rsqrt, every order and mode of differentiation is exact.
    """

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(-1, keepdim=True)
        variance = (centred * centred).mean(-1, keepdim=True)
        return centred * torch.rsqrt(variance + self.eps) * self.weight + self.bias
