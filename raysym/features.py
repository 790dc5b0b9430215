"""The seven per-constituent input features of the jet taggers (SPEC §2).

[Δη, Δφ, log(pT/pT_jet), log pT, log(E/E_jet), log E, ΔR], all measured against the jet four-momentum
(the sum of the real constituents). Constituent η is asinh(pz/pT); the jet axis uses the jet's rapidity
y = atanh(pz/E), which equals η for a massless jet and, unlike the pseudorapidity of a massive jet,
shifts exactly like a massless constituent's η under a boost along the beam: Δη, Δφ, ΔR and the pT
features are then exactly invariant under longitudinal boosts. Because the jet axis is recomputed from the constituents, boosting
the constituents and calling :func:`constituent_features` again gives features "against the boosted
jet axis", which is exactly what SEAL needs (SPEC §3.1). Padded constituents give all-zero features.
"""

from __future__ import annotations

import math

import torch

from raysym.kinematics import E, PZ, jet_p4, safe_where, to_ptetaphie

FEATURE_NAMES: tuple[str, ...] = ("deta", "dphi", "log_ptrel", "log_pt", "log_erel", "log_e", "delta_r")
N_FEATURES = len(FEATURE_NAMES)


def wrap_phi(dphi: torch.Tensor) -> torch.Tensor:
    """Wrap an angle difference into (−π, π], so a jet straddling φ = ±π gets small Δφ."""
    return dphi - 2 * math.pi * torch.ceil((dphi - math.pi) / (2 * math.pi))


def rapidity(p4: torch.Tensor) -> torch.Tensor:
    """y = atanh(pz/E), 0 where E = 0 (an empty jet)."""
    energy = p4[..., E]
    ratio = p4[..., PZ] / torch.where(energy > 0, energy, torch.ones_like(energy))
    return torch.where(energy > 0, torch.atanh(ratio), torch.zeros_like(ratio))


def _safe_log(x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    return safe_where(real & (x > 0), torch.log, x, 0.0)


def constituent_features(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, N, 4) (E, px, py, pz) constituents + (B, N) mask → (B, N, 7) features (SPEC §2).

    Differentiable (backward and forward mode) with finite derivatives at padded rows.
    """
    mask = mask.bool()
    jet = jet_p4(p4, mask)
    kin = to_ptetaphie(p4)
    jet_kin = to_ptetaphie(jet).unsqueeze(-2)
    pt, eta, phi, energy = kin.unbind(-1)
    deta = eta - rapidity(jet).unsqueeze(-1)
    dphi = wrap_phi(phi - jet_kin[..., 2])
    dr2 = deta**2 + dphi**2
    delta_r = safe_where(dr2 > 0, torch.sqrt, dr2, 0.0)
    jet_pt = jet_kin[..., 0].expand_as(pt)
    jet_e = jet[..., E].unsqueeze(-1).expand_as(energy)
    feats = torch.stack(
        [
            deta,
            dphi,
            _safe_log(pt / torch.where(jet_pt > 0, jet_pt, torch.ones_like(jet_pt)), mask),
            _safe_log(pt, mask),
            _safe_log(energy / torch.where(jet_e > 0, jet_e, torch.ones_like(jet_e)), mask),
            _safe_log(energy, mask),
            delta_r,
        ],
        dim=-1,
    )
    return feats * mask.unsqueeze(-1).to(feats.dtype)
