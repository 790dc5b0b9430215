"""The Energy Flow Network tagger: an infrared- and collinear-safe Deep Sets model (docs/methods.md §4).

Komiske, Metodiev and Thaler, "Energy Flow Networks: Deep Sets for Particle Jets", JHEP 01 (2019) 121
(arXiv:1810.05165), write every IRC-safe observable of a jet in the form

    O = F( Σ_i z_i Φ(p̂_i) ),

with z_i the energy fraction of constituent i, p̂_i its direction, Φ a per-particle network to a latent
space of width ℓ (the "latent observables") and F a network on that space. raysym takes
z_i = pT_i / Σ_j pT_j over the real constituents and p̂_i = (Δη_i, Δφ_i), the first two features of
docs/methods.md §2 (:func:`raysym.features.constituent_features`, against the sum of the constituents,
through the same fixed scaling as the transformers, :func:`raysym.features.standardise_features`). Φ is
a ReLU MLP 2 → ``phi_widths`` → ``latent`` with a ReLU on the latent layer too, F a ReLU MLP
``latent`` → ``f_widths`` → 1 logit: the layout of the paper and of its authors' EnergyFlow package
(``energyflow.archs.EFN``, ``examples/efn_example.py``), which this module follows without its code.

Why the form is safe, and what the tests check (``tests/test_models_efn.py``):

- *Permutations and padding*: the pooling is a sum over the real constituents; padded rows are removed
  with ``where``, so neither their values nor their number reach the output.
- *Infrared*: a constituent with pT = 0 has z = 0, and Φ is finite everywhere (a pT = 0 row has η = φ = 0,
  :func:`raysym.kinematics.to_ptetaphie`), so it adds exactly 0 to the sum; the jet axis and Σ pT are
  unchanged by it.
- *Collinear*: splitting p into λp and (1 − λ)p keeps both directions (η and φ are ratios of momenta),
  so Φ is the same for both and their z add up to the parent's; the jet axis and Σ pT are unchanged.

What it is *not*: Lorentz invariant. Boosts transverse to the beam and rotations other than about it
change the angles and the fractions, which is what a symmetry penalty (docs/methods.md §3) can teach.
With Δη against the jet's rapidity (the default), rotations about the beam and — for massless
constituents — boosts along it leave z and (Δη, Δφ) unchanged, so those two generators come free
(for massive constituents, boosts along the beam move Δη by O(m²/p²)).

Sizes (:data:`EFN_PRESETS`): ``paper`` is the paper's shape (Φ two hidden layers and a latent layer, F
three layers) widened to the size of the Glowacki student, so the two compare at equal capacity:
Φ 320-320-256 (185,856 parameters) and F 320-320-320 (288,001) make **473,857**, 97 % of the student's
487,665. ``small`` is the EnergyFlow example's Φ 100-100-128, F 100-100-100: **56,529** parameters, about
as many as the small teacher's 57,217, and trains faster (no attention), in a few CPU minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raysym.errors import ConfigError, positive_int
from raysym.features import FEATURE_NAMES, check_jet_axis, constituent_features, standardise_features
from raysym.kinematics import pt
from raysym.models.kinds import register_model, widths
from raysym.models.layers import ClassifierHead, mlp, positive_widths

#: The columns of the constituent features that give a particle's direction p̂ = (Δη, Δφ).
ANGLES: tuple[int, ...] = (FEATURE_NAMES.index("deta"), FEATURE_NAMES.index("dphi"))


@dataclass(frozen=True)
class EFNConfig:
    """Sizes of an Energy Flow Network; the defaults are the ``paper`` preset."""

    #: Hidden widths of Φ, before its latent layer.
    phi_widths: tuple[int, ...] = (320, 320)
    #: ℓ, the number of latent observables Σ_i z_i Φ_a(p̂_i).
    latent: int = 256
    #: Hidden widths of F, before its one logit.
    f_widths: tuple[int, ...] = (320, 320, 320)
    #: What Δη is measured against (:data:`raysym.features.JET_AXES`), as for the transformers.
    jet_axis: str = "rapidity"
    #: Scale (Δη, Δφ) by the fixed factor of :func:`raysym.features.standardise_features` (no parameters).
    standardise: bool = True

    def __post_init__(self):
        positive_int("latent", self.latent)
        object.__setattr__(self, "phi_widths", positive_widths("phi_widths", self.phi_widths))
        object.__setattr__(self, "f_widths", positive_widths("f_widths", self.f_widths))
        check_jet_axis(self.jet_axis)
        if not isinstance(self.standardise, bool):
            raise ConfigError(f"standardise must be true or false, got {self.standardise!r}")


def energy_fractions(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """z_i = pT_i / Σ_j pT_j over the real constituents, (B, N, 4) → (B, N); 0 at padding and in a jet
    without transverse momentum. Differentiable in every order at pT = 0 (:func:`raysym.kinematics.pt`)."""
    mask = mask.bool()
    zero = torch.zeros((), dtype=p4.dtype, device=p4.device)
    transverse = torch.where(mask, pt(p4), zero)
    total = transverse.sum(-1, keepdim=True)
    return transverse / torch.where(total > 0, total, torch.ones_like(total))


def directions(p4: torch.Tensor, mask: torch.Tensor, jet_axis: str = "rapidity",
               standardise: bool = True) -> torch.Tensor:
    """p̂_i = (Δη_i, Δφ_i) against the jet axis, (B, N, 4) → (B, N, 2); 0 at padding."""
    features = constituent_features(p4, mask, jet_axis)
    if standardise:
        features = standardise_features(features, mask)
    return features[..., list(ANGLES)]


class EnergyFlowNetwork(nn.Module):
    """``model(p4, mask) -> (B,)`` logits F(Σ_i z_i Φ(p̂_i)) (Komiske, Metodiev, Thaler 2019)."""

    def __init__(self, config: EFNConfig = EFNConfig()):
        super().__init__()
        self.config = config
        self.phi = mlp(len(ANGLES), config.phi_widths + (config.latent,))
        self.head = ClassifierHead(config.latent, config.f_widths)

    def latent_observables(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The ℓ energy-weighted sums Σ_i z_i Φ(p̂_i) over the real constituents, (B, latent)."""
        mask = mask.bool()
        per_particle = self.phi(directions(p4, mask, self.config.jet_axis, self.config.standardise))
        weighted = energy_fractions(p4, mask).unsqueeze(-1) * per_particle
        # ``where``, not a product with the mask: garbage in a padded row cannot reach the sum.
        return torch.where(mask.unsqueeze(-1), weighted, torch.zeros((), dtype=weighted.dtype,
                                                                      device=weighted.device)).sum(-2)

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.latent_observables(p4, mask))


#: ``paper``: the paper's shape at the Glowacki student's size (473,857 parameters); ``small``: the
#: EnergyFlow example's sizes (56,529), beside the small teacher.
EFN_PRESETS = {
    "paper": EFNConfig(phi_widths=(320, 320), latent=256, f_widths=(320, 320, 320)),
    "small": EFNConfig(phi_widths=(100, 100), latent=128, f_widths=(100, 100, 100)),
}


def describe(config: EFNConfig) -> str:
    """The main sizes of an Energy Flow Network, in one line."""
    return f"phi {widths(config.phi_widths + (config.latent,))}, F {widths(config.f_widths)}"


register_model("efn", EFNConfig, EnergyFlowNetwork, EFN_PRESETS, describe)
