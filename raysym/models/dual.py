"""The dual-subnet tagger with a learned symmetry factor (Nabat et al., arXiv:2412.18773; docs/methods.md §4).

Detector effects break the Lorentz symmetry of jets softly, and by an amount that depends on momentum
(resolution changes with pT). The dual-subnet model lets the network decide, per jet, how much to rely on
the symmetry: a constrained subnet sees only Lorentz invariants (:class:`InvariantSubnet`, latent z_inv)
and an unconstrained one sees everything (the transformer body, latent z_gen, of the same width). They
are mixed as

    z = w_gen · z_gen + w_inv · z_inv,    (w_gen, w_inv) = softmax(MLP(log(pT_jet / pt_scale_gev))),

and a classifier head maps z to one logit. (w_gen, w_inv) is the learned symmetry factor: with w_inv = 1
the model is exactly Lorentz invariant, with w_inv = 0 it is the unconstrained transformer. The factor
is a function of the jet pT — itself not Lorentz invariant, which is the point: the gate may depend on
where in phase space the detector breaks the symmetry. ``pt_scale_gev`` only centres the gate's input
(jets sit near 1 TeV, docs/methods.md §1.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from raysym.errors import ConfigError
from raysym.kinematics import jet_p4, pt, safe_where
from raysym.models.invariant import INVARIANT_PRESETS, InvariantConfig, InvariantSubnet
from raysym.models.kinds import register_model, widths
from raysym.models.layers import ClassifierHead, mlp, positive_widths
from raysym.models.transformer import TEACHER_PRESETS, TransformerBody, TransformerConfig


@dataclass(frozen=True)
class DualConfig:
    """Sizes of the dual model. The sub-configs' own ``head_widths`` are unused: the dual has one head."""

    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    invariant: InvariantConfig = field(default_factory=InvariantConfig)
    gate_widths: tuple[int, ...] = (16, 16)
    head_widths: tuple[int, ...] = (128, 128, 128)
    pt_scale_gev: float = 1000.0

    def __post_init__(self):
        # Accept plain dicts (a config read back from a checkpoint or JSON).
        if isinstance(self.transformer, dict):
            object.__setattr__(self, "transformer", TransformerConfig(**self.transformer))
        if isinstance(self.invariant, dict):
            object.__setattr__(self, "invariant", InvariantConfig(**self.invariant))
        if not isinstance(self.transformer, TransformerConfig) or not isinstance(self.invariant, InvariantConfig):
            raise ConfigError("DualConfig needs a TransformerConfig and an InvariantConfig")
        object.__setattr__(self, "gate_widths", positive_widths("gate_widths", self.gate_widths))
        object.__setattr__(self, "head_widths", positive_widths("head_widths", self.head_widths))
        if self.invariant.latent != self.transformer.d_model:
            raise ConfigError(
                f"the latents must have equal width: invariant latent {self.invariant.latent} "
                f"!= transformer d_model {self.transformer.d_model}"
            )
        if not (isinstance(self.pt_scale_gev, (int, float)) and self.pt_scale_gev > 0):
            raise ConfigError(f"pt_scale_gev must be a positive number, got {self.pt_scale_gev!r}")


class DualSubnetTagger(nn.Module):
    """``model(p4, mask) -> (B,)`` logits from the gated mix of invariant and general latents.

    ``force_invariant_weight``: ``None`` (default) uses the learned symmetry factor; a float w in [0, 1]
    replaces it by (w_gen, w_inv) = (1 − w, w) for every jet — ``1.0`` makes the model exactly invariant,
    ``0.0`` the unconstrained subnet alone.
    """

    def __init__(self, config: DualConfig = DualConfig(), force_invariant_weight: float | None = None):
        super().__init__()
        self.config = config
        self.general = TransformerBody(config.transformer)
        self.invariant = InvariantSubnet(config.invariant)
        self.gate = mlp(1, config.gate_widths, 2)
        self.head = ClassifierHead(config.transformer.d_model, config.head_widths)
        self.force_invariant_weight = force_invariant_weight

    @property
    def force_invariant_weight(self) -> float | None:
        return self._force_invariant_weight

    @force_invariant_weight.setter
    def force_invariant_weight(self, value: float | None) -> None:
        if value is not None and not 0.0 <= float(value) <= 1.0:
            raise ConfigError(f"force_invariant_weight must be None or in [0, 1], got {value!r}")
        self._force_invariant_weight = None if value is None else float(value)

    def weights(self, p4: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_gen, w_inv), each (B,): the learned softmax gate, or the forced weight if one is set."""
        if self._force_invariant_weight is not None:
            w_inv = torch.full(p4.shape[:-2], self._force_invariant_weight, dtype=p4.dtype, device=p4.device)
            return 1.0 - w_inv, w_inv
        jet_pt = pt(jet_p4(p4, mask.bool()))
        log_pt = safe_where(jet_pt > 0, torch.log, jet_pt, 0.0) - math.log(self.config.pt_scale_gev)
        w = torch.softmax(self.gate(log_pt.unsqueeze(-1)), dim=-1)
        return w[..., 0], w[..., 1]

    def symmetry_factor(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The invariant weight w_inv per jet, (B,) — the quantity to study versus jet pT."""
        return self.weights(p4, mask)[1]

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w_gen, w_inv = self.weights(p4, mask)
        z = w_gen.unsqueeze(-1) * self.general(p4, mask) + w_inv.unsqueeze(-1) * self.invariant(p4, mask)
        return self.head(z)


#: The dual model's sizes: the teacher's body and head beside the invariant subnet of the same preset.
DUAL_PRESETS = {
    "paper": DualConfig(transformer=TEACHER_PRESETS["paper"], invariant=INVARIANT_PRESETS["paper"],
                        gate_widths=(16, 16), head_widths=(128, 128, 128)),
    "small": DualConfig(transformer=TEACHER_PRESETS["small"], invariant=INVARIANT_PRESETS["small"],
                        gate_widths=(8, 8), head_widths=(64, 32)),
}


def describe(config: DualConfig) -> str:
    """The main sizes of a dual model, in one line."""
    t = config.transformer
    return (f"transformer d_model {t.d_model}x{t.layers} + invariant latent {config.invariant.latent}, "
            f"gate {widths(config.gate_widths)}, head {widths(config.head_widths)}")


register_model("dual", DualConfig, DualSubnetTagger, DUAL_PRESETS, describe)
