"""Constituent pT smearing, the input perturbation of the robustness study (docs/methods.md §6, Glowacki §4).

p'_T = p_T (1 + σ ε) with ε ~ N(0, 1) per constituent and η, φ kept; for a four-vector that means
scaling (E, px, py, pz) together by (1 + σ ε), which also keeps each constituent's mass-to-momentum
ratio. A fixed ``generator`` seed gives every model the same smeared jets.
"""

from __future__ import annotations

import torch


def smear_pt(p4: torch.Tensor, mask: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Return smeared copies of (B, N, 4) constituents; σ = 0 returns the input values exactly.

    A factor 1 + σε ≤ 0 would flip a particle's direction; such draws are clipped to a tiny positive
    factor so the constituent stays real and keeps η, φ.
    """
    if sigma < 0:
        raise ValueError(f"smearing width sigma must be >= 0, got {sigma}")
    eps = torch.randn(p4.shape[:-1], generator=generator, dtype=torch.float64, device=p4.device)
    factor = (1.0 + sigma * eps).clamp_min(1e-3).to(p4.dtype)
    factor = torch.where(mask.bool(), factor, torch.ones_like(factor))
    return p4 * factor.unsqueeze(-1)
