"""Four-momentum bookkeeping for jets of padded constituents (pure torch, batched, differentiable).

Convention everywhere in raysym: four-momenta are (E, px, py, pz) in GeV on the last axis, constituents
on the axis before it, and a boolean ``mask`` marks real constituents (padding rows are all zero).
Functions keep the input dtype (float32 or float64) and stay differentiable at padded rows, where a
naive log/asinh/atan2 would put NaN into gradients and Jacobian-vector products (δSEAL, docs/methods.md §3.2).
"""

from __future__ import annotations

import torch

E, PX, PY, PZ = 0, 1, 2, 3


def safe_where(condition: torch.Tensor, value_fn, arg: torch.Tensor, fallback: float) -> torch.Tensor:
    """``value_fn(arg)`` where ``condition`` holds, ``fallback`` elsewhere, with finite gradients.

    The double-where trick: the function only ever sees safe arguments, so masked entries cannot
    produce inf/NaN that would leak into backward or forward-mode derivatives.
    """
    safe_arg = torch.where(condition, arg, torch.ones_like(arg))
    return torch.where(condition, value_fn(safe_arg), torch.full_like(arg, fallback))


def pt(p4: torch.Tensor) -> torch.Tensor:
    """Transverse momentum sqrt(px² + py²), with a finite gradient at pT = 0."""
    pt2 = p4[..., PX] ** 2 + p4[..., PY] ** 2
    return safe_where(pt2 > 0, torch.sqrt, pt2, 0.0)


def to_ptetaphie(p4: torch.Tensor) -> torch.Tensor:
    """(E, px, py, pz) → (pT, η, φ, E) with η = asinh(pz/pT), φ = atan2(py, px) (docs/methods.md §2).

    A row with pT = 0 (padding) maps to (0, 0, 0, E).
    """
    transverse = pt(p4)
    has_pt = transverse > 0
    ratio = p4[..., PZ] / torch.where(has_pt, transverse, torch.ones_like(transverse))
    eta = torch.where(has_pt, torch.asinh(ratio), torch.zeros_like(ratio))
    px_safe = torch.where(has_pt, p4[..., PX], torch.ones_like(transverse))
    phi = torch.where(has_pt, torch.atan2(p4[..., PY], px_safe), torch.zeros_like(transverse))
    return torch.stack([transverse, eta, phi, p4[..., E]], dim=-1)


def from_ptetaphie(kin: torch.Tensor) -> torch.Tensor:
    """(pT, η, φ, E) → (E, px, py, pz); the inverse of :func:`to_ptetaphie` (E is carried through)."""
    transverse, eta, phi, energy = kin.unbind(-1)
    return torch.stack(
        [energy, transverse * torch.cos(phi), transverse * torch.sin(phi), transverse * torch.sinh(eta)],
        dim=-1,
    )


def jet_p4(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Jet four-momentum: the sum of the real constituents, (..., N, 4) → (..., 4)."""
    return (p4 * mask.unsqueeze(-1).to(p4.dtype)).sum(dim=-2)


def mass_squared(p4: torch.Tensor) -> torch.Tensor:
    """Minkowski square E² − |p|² (metric +,−,−,−); may be slightly negative for massless rounding."""
    return p4[..., E] ** 2 - p4[..., PX] ** 2 - p4[..., PY] ** 2 - p4[..., PZ] ** 2


def invariant_mass(p4: torch.Tensor) -> torch.Tensor:
    """sqrt(max(m², 0)), with a finite gradient at m = 0."""
    m2 = mass_squared(p4)
    return safe_where(m2 > 0, torch.sqrt, m2, 0.0)


def minkowski_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a·b = a⁰b⁰ − a⃗·b⃗ over the last axis; the building block of Lorentz invariants."""
    return a[..., E] * b[..., E] - (a[..., 1:] * b[..., 1:]).sum(-1)
