"""The jet transformer: teacher and student taggers of the Glowacki study (docs/methods.md §4).

Architecture (the SEAL top-tagging transformer, Glowacki §3.2): the seven constituent features of
docs/methods.md §2 → Linear(7 → d_model) + ReLU → ``layers`` post-norm transformer encoder layers (multi-head
self-attention and a ReLU feed-forward block, each with a residual connection followed by LayerNorm) →
mean over the *real* constituents → ReLU MLP ``d_model → head_widths… → 1`` → one logit.

Two settings follow the SEAL authors' code when asked (:data:`REFERENCE_SETTINGS`, the ``paper`` study):
``dropout`` in the encoder, active only in training, and ``jet_axis``, what Δη is measured against.

The features pass through a fixed, parameter-free affine standardisation first
(:func:`raysym.features.standardise_features`; ``standardise=False`` turns it off): the paper does not
describe its input scaling, and raw angles (~0.1) next to logarithms (~3) slow Adam down markedly.

The models take four-momenta, not features: ``model(p4, mask)`` computes
:func:`raysym.features.constituent_features` itself, so a symmetry penalty can boost ``p4`` and call the
model again (docs/methods.md §3.1), and a Jacobian-vector product along a Lorentz generator runs through the feature
map and the network in one go (docs/methods.md §3.2).

Parameter count at the paper sizes (d_model 256, 4 heads, feed-forward 256, 3 layers, head 128-128-128):
embedding 2,048 + 3 × 395,776 per encoder layer (attention 263,168, feed-forward 131,584, two LayerNorms
1,024) + head 66,049 = **1,255,425**. The paper reports 1,256,356, 931 (0.07 %) more. 931 is odd and matches
none of the obvious additions (a final LayerNorm, 512; a class token, 256; an extra bias), so we keep the
architecture exactly as described rather than invent layers to close the gap.

Student (``STUDENT_PRESETS["paper"]``): the same family at d_model 128, 4 heads,
feed-forward 312, 3 layers, head 128-128-100: 1,024 + 3 × 146,872 + 46,025 = **487,665** parameters,
exactly the paper's student count, keeping the teacher's depth, head count and most of its head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raysym.errors import ConfigError
from raysym.features import N_FEATURES, check_jet_axis, constituent_features, standardise_features
from raysym.models.attention import MultiHeadSelfAttention, safe_key_mask
from raysym.errors import positive_int
from raysym.models.kinds import register_model, widths
from raysym.models.layers import ClassifierHead, LayerNorm, masked_mean, positive_widths


#: The SEAL authors' public top-tagging code (github.com/inbarsavoray/SEAL, paper/top_tagging, commit
#: 8694ed9), from which the Glowacki teacher comes: PyTorch's encoder layer with its default dropout of 0.1,
#: and Δη against the jet's pseudorapidity. The ``paper`` study takes these (docs/methods.md §4, "raysym
#: against the reference code"); ``tests/test_reference_code.py`` checks features and penalties against
#: that code's own numbers.
REFERENCE_SETTINGS: dict[str, object] = {"dropout": 0.1, "jet_axis": "pseudorapidity"}


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of a jet transformer; the defaults are the teacher's paper sizes (docs/methods.md §4)."""

    d_model: int = 256
    heads: int = 4
    ff: int = 256
    layers: int = 3
    head_widths: tuple[int, ...] = (128, 128, 128)
    n_features: int = N_FEATURES
    #: Dropout probability of the encoder (attention weights, after attention, inside and after the
    #: feed-forward block, as ``nn.TransformerEncoderLayer``), active only in training: 0.1 in the
    #: reference configuration (the SEAL authors' code uses PyTorch's default).
    dropout: float = 0.0
    #: Feed the features through the fixed affine map of ``standardise_features`` (no parameters).
    standardise: bool = True
    #: What Δη is measured against (:data:`raysym.features.JET_AXES`); "pseudorapidity" in the reference
    #: configuration. Left out of keys at its default, which is what every model did before it existed.
    jet_axis: str = "rapidity"

    def __post_init__(self):
        for name in ("d_model", "heads", "ff", "layers", "n_features"):
            positive_int(name, getattr(self, name))
        object.__setattr__(self, "head_widths", positive_widths("head_widths", self.head_widths))
        if self.d_model % self.heads:
            raise ConfigError(f"d_model {self.d_model} must be divisible by heads {self.heads}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0.0 <= float(self.dropout) < 1.0:
            raise ConfigError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        check_jet_axis(self.jet_axis)


class EncoderLayer(nn.Module):
    """Post-norm encoder layer: x ← LN(x + MHA(x)); x ← LN(x + W2·ReLU(W1·x)).

    The same computation and parameter count as ``nn.TransformerEncoderLayer(..., norm_first=False,
    activation="relu", batch_first=True)``, written out so attention goes through our SDPA call.
    """

    def __init__(self, d_model: int, heads: int, ff: int, dropout: float = 0.0):
        super().__init__()
        self.attn = MultiHeadSelfAttention(d_model, heads, dropout)
        self.linear1 = nn.Linear(d_model, ff)
        self.linear2 = nn.Linear(ff, d_model)
        self.norm1 = LayerNorm(d_model)
        self.norm2 = LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.attn(x, key_mask)))
        return self.norm2(x + self.dropout(self.linear2(self.dropout(torch.relu(self.linear1(x))))))


class TransformerBody(nn.Module):
    """Features → embedding → encoder → mean over real constituents: the (B, d_model) jet latent.

    This is the unconstrained subnet of the dual model as well as the body of teacher and student.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Sequential(nn.Linear(config.n_features, config.d_model), nn.ReLU())
        self.layers = nn.ModuleList(
            EncoderLayer(config.d_model, config.heads, config.ff, config.dropout) for _ in range(config.layers)
        )

    @property
    def out_dim(self) -> int:
        return self.config.d_model

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        features = constituent_features(p4, mask, self.config.jet_axis)
        if self.config.standardise:
            features = standardise_features(features, mask)
        x = self.embed(features)
        key_mask = safe_key_mask(mask)
        for layer in self.layers:
            x = layer(x, key_mask)
        return masked_mean(x, mask, dim=-2)


class JetTransformer(nn.Module):
    """Teacher or student tagger: ``model(p4, mask) -> (B,) logits`` (docs/methods.md §4)."""

    def __init__(self, config: TransformerConfig = TransformerConfig()):
        super().__init__()
        self.config = config
        self.body = TransformerBody(config)
        self.head = ClassifierHead(config.d_model, config.head_widths)

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(p4, mask))


#: The teacher's sizes: Glowacki's (1,255,425 parameters) and a reduced family for quick CPU runs.
TEACHER_PRESETS = {
    "paper": TransformerConfig(d_model=256, heads=4, ff=256, layers=3, head_widths=(128, 128, 128)),
    "small": TransformerConfig(d_model=64, heads=4, ff=64, layers=2, head_widths=(64, 32)),
}
#: The student's: the paper's count exactly (487,665), and a smaller one beside the small teacher.
STUDENT_PRESETS = {
    "paper": TransformerConfig(d_model=128, heads=4, ff=312, layers=3, head_widths=(128, 128, 100)),
    "small": TransformerConfig(d_model=32, heads=4, ff=64, layers=2, head_widths=(32, 32)),
}


def describe(config: TransformerConfig) -> str:
    """The main sizes of a transformer, in one line."""
    return (f"d_model {config.d_model}, heads {config.heads}, ff {config.ff}, layers {config.layers}, "
            f"head {widths(config.head_widths)}")


register_model("teacher", TransformerConfig, JetTransformer, TEACHER_PRESETS, describe)
register_model("student", TransformerConfig, JetTransformer, STUDENT_PRESETS, describe)
