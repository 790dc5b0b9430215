"""The Lorentz-invariant subnet and the hard-invariant tagger (docs/methods.md §4; Nabat et al., arXiv:2412.18773).

The constrained subnet of the dual model sees only Lorentz invariants: the pairwise Minkowski products
x_ij = p_i·p_j of the real constituents (metric +,−,−,−), mapped by sign(x)·log(1 + |x|) to tame their
range (GeV², from ~0 for collinear pairs to ~10⁵). Everything downstream is a function of the Gram matrix
of the constituents, so the output is *exactly* invariant under any Lorentz transformation (boosts and
rotations) applied to all constituents of a jet, up to floating-point rounding — by construction, with no
penalty needed.

It is a two-level Deep Sets on the Gram matrix, so it is also invariant under permutations of the
constituents and blind to padding:

1. pair MLP φ on (ŝ(x_ij), ŝ(x_ii), ŝ(x_jj)) for every ordered pair of real constituents (ŝ = signed log;
   x_ii = m_i² lets the pair term know the constituent masses);
2. per constituent i, the mean over real j of φ, then a node MLP ψ;
3. the mean over real i of ψ, concatenated with two jet-level invariants: ŝ(M²) with
   M² = Σ_ij x_ij the squared jet mass, and log n with n the number of real constituents (means alone
   cannot count);
4. an MLP to the latent z_inv, then LayerNorm so z_inv lives on the same scale as the transformer's
   layer-normed latent z_gen it is mixed with in the dual model.

The hard-invariant baseline (docs/methods.md §4) is this subnet followed by a classifier head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from raysym.kinematics import minkowski_dot
from raysym.errors import positive_int
from raysym.models.kinds import register_model, widths
from raysym.models.layers import ClassifierHead, LayerNorm, masked_mean, mlp, positive_widths


def signed_log(x: torch.Tensor) -> torch.Tensor:
    """sign(x)·log(1 + |x|), written so its derivative 1/(1 + |x|) is right (= 1) at x = 0 too."""
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    return torch.where(x >= 0, torch.log1p(x.clamp_min(zero)), -torch.log1p((-x).clamp_min(zero)))


def pair_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, N) constituent mask → (B, N, N) mask of pairs of real constituents (diagonal included)."""
    mask = mask.bool()
    return mask.unsqueeze(-1) & mask.unsqueeze(-2)


def pairwise_invariants(p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The Gram matrix x_ij = p_i·p_j of the real constituents, (B, N, 4) → (B, N, N); 0 off the real pairs."""
    gram = minkowski_dot(p4.unsqueeze(-2), p4.unsqueeze(-3))
    return torch.where(pair_mask(mask), gram, torch.zeros((), dtype=gram.dtype, device=gram.device))


@dataclass(frozen=True)
class InvariantConfig:
    """Sizes of the invariant subnet; ``head_widths`` is used by the hard-invariant tagger only."""

    pair_widths: tuple[int, ...] = (64, 64)
    node_widths: tuple[int, ...] = (128, 128)
    latent: int = 256
    latent_widths: tuple[int, ...] = (256,)
    head_widths: tuple[int, ...] = (128, 128, 128)

    def __post_init__(self):
        positive_int("latent", self.latent)
        object.__setattr__(self, "pair_widths", positive_widths("pair_widths", self.pair_widths, allow_empty=False))
        object.__setattr__(self, "node_widths", positive_widths("node_widths", self.node_widths, allow_empty=False))
        object.__setattr__(self, "latent_widths", positive_widths("latent_widths", self.latent_widths))
        object.__setattr__(self, "head_widths", positive_widths("head_widths", self.head_widths))


#: Number of pair inputs (ŝ(x_ij), ŝ(x_ii), ŝ(x_jj)) and of jet-level inputs (ŝ(M²), log n).
PAIR_INPUTS, JET_INPUTS = 3, 2


class InvariantSubnet(nn.Module):
    """(p4, mask) → z_inv (B, latent), a function of the pairwise Minkowski products only."""

    def __init__(self, config: InvariantConfig = InvariantConfig()):
        super().__init__()
        self.config = config
        self.pair_mlp = mlp(PAIR_INPUTS, config.pair_widths)
        self.node_mlp = mlp(config.pair_widths[-1], config.node_widths)
        self.latent_mlp = mlp(config.node_widths[-1] + JET_INPUTS, config.latent_widths, config.latent)
        self.norm = LayerNorm(config.latent)

    @property
    def out_dim(self) -> int:
        return self.config.latent

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        pairs = pair_mask(mask)
        gram = pairwise_invariants(p4, mask)
        s = signed_log(gram)
        diag = torch.diagonal(s, dim1=-2, dim2=-1)
        pair_in = torch.stack([s, diag.unsqueeze(-1).expand_as(s), diag.unsqueeze(-2).expand_as(s)], dim=-1)
        node = masked_mean(self.pair_mlp(pair_in), pairs, dim=-2)          # (B, N, P): mean over j
        jet = masked_mean(self.node_mlp(node), mask, dim=-2)               # (B, Q): mean over i
        n_real = mask.sum(-1).clamp_min(1).to(p4.dtype)
        jet_in = torch.cat([jet, signed_log(gram.sum((-2, -1))).unsqueeze(-1), torch.log(n_real).unsqueeze(-1)], -1)
        return self.norm(self.latent_mlp(jet_in))


class InvariantTagger(nn.Module):
    """Hard-invariant baseline: the invariant subnet and a classifier head, ``(p4, mask) -> (B,)`` logits."""

    def __init__(self, config: InvariantConfig = InvariantConfig()):
        super().__init__()
        self.config = config
        self.subnet = InvariantSubnet(config)
        self.head = ClassifierHead(config.latent, config.head_widths)

    def forward(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.subnet(p4, mask))


#: The hard-invariant baseline's sizes: latent 256 with the teacher's head (paper), and a small family.
INVARIANT_PRESETS = {
    "paper": InvariantConfig(pair_widths=(64, 64), node_widths=(128, 128), latent=256, latent_widths=(256,),
                             head_widths=(128, 128, 128)),
    "small": InvariantConfig(pair_widths=(32, 32), node_widths=(64, 64), latent=64, latent_widths=(64,),
                             head_widths=(64, 32)),
}


def describe(config: InvariantConfig) -> str:
    """The main sizes of an invariant tagger, in one line."""
    return (f"pairs {widths(config.pair_widths)}, nodes {widths(config.node_widths)}, latent {config.latent}, "
            f"head {widths(config.head_widths)}")


register_model("invariant", InvariantConfig, InvariantTagger, INVARIANT_PRESETS, describe)
