"""Symmetry-encouraging penalties: the soft inductive bias of a run (SEAL, arXiv:2511.01982; docs/methods.md §3).

The total loss is L = L_BCE + λ · penalty, and only the penalty distinguishes the variants:

- ``none``: the unconstrained baseline;
- ``seal``: the finite-transformation penalty used by the Glowacki study: one random 3-D boost per jet
  (docs/methods.md §3.1), features recomputed against the boosted jet, mean squared difference of the sigmoid
  outputs on the two views;
- ``dseal``: the infinitesimal penalty: the Lie derivatives D_a f = d/dt f(exp(t T_a) p)|_{t=0} along the
  Lorentz generators, computed as one forward-mode Jacobian-vector product through the feature map and
  the network (or one reverse-mode input gradient); penalty = mean over jets of Σ_a (D_a f)²
  (docs/methods.md §3.2).

Every penalty is a callable ``penalty(model, batch, logits=None) -> scalar``; ``logits`` lets the
training step reuse the forward pass it already made for the BCE term. Random draws come from the
penalty's own ``torch.Generator``, whose state a checkpoint saves, so training stays reproducible.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import torch

from raysym.batch import JetBatch
from raysym.errors import ConfigError
from raysym.lorentz import BETA2_MAX, apply_lorentz, generators, random_boosts, random_rotations
from raysym.models.attention import math_attention

PENALTIES: tuple[str, ...] = ("none", "seal", "dseal")
GENERATOR_NAMES: tuple[str, ...] = ("Kx", "Ky", "Kz", "Lx", "Ly", "Lz")


class Penalty(Protocol):
    name: str

    def __call__(self, model: torch.nn.Module, batch: JetBatch, logits: torch.Tensor | None = None) -> torch.Tensor:
        ...


def _probabilities(model, p4, mask, logits=None):
    return torch.sigmoid(model(p4, mask) if logits is None else logits)


class NoPenalty:
    """The unconstrained model's penalty: exactly zero, costing nothing."""

    name = "none"

    def __call__(self, model, batch, logits=None):
        return batch.p4.new_zeros(())


class SealPenalty:
    """Finite-boost SEAL penalty, docs/methods.md §3.1: mean_j (σ(f(x_j)) − σ(f(Λ_j x_j)))².

    ``rotations`` composes each boost with a random rotation (the optional second generator family).
    """

    name = "seal"

    def __init__(self, generator: torch.Generator, beta2_max: float = BETA2_MAX, rotations: bool = False):
        self.generator = generator
        self.beta2_max = beta2_max
        self.rotations = rotations

    def transformations(self, n: int, dtype, device) -> torch.Tensor:
        """The next n per-jet transformations from this penalty's random stream."""
        matrices = random_boosts(n, self.generator, self.beta2_max, torch.float64)
        if self.rotations:
            matrices = random_rotations(n, self.generator, torch.float64) @ matrices
        return matrices.to(dtype=dtype, device=device)

    def __call__(self, model, batch, logits=None):
        matrices = self.transformations(len(batch), batch.p4.dtype, batch.p4.device)
        original = _probabilities(model, batch.p4, batch.mask, logits)
        transformed = _probabilities(model, apply_lorentz(batch.p4, matrices), batch.mask)
        return (original - transformed).pow(2).mean()


class DsealPenalty:
    """Infinitesimal δSEAL penalty, docs/methods.md §3.2: mean_j Σ_a (D_a σ(f))² over the chosen generators.

    Two exact ways to get the Lie derivatives D_a σ(f) = ∇_p σ(f) · (T_a p):

    - ``method="jvp"`` (default, as docs/methods.md §3.2 describes): forward-mode ``torch.func.jvp`` on the batch
      repeated once per generator — one dual-number forward pass, no double backward for the
      derivatives themselves;
    - ``method="grad"``: one reverse-mode input gradient ∇_p σ(f), contracted with every tangent T_a p.
      One backward pass serves all generators, so training (which differentiates the penalty again,
      w.r.t. the weights) is much cheaper; ``bench/training_throughput.py`` measures both.

    The math SDPA backend is selected because fused attention kernels have neither forward-mode
    derivatives nor double backward.

    ``normalised`` divides each jet's sum by |∇_p σ(f)|², which makes the penalty independent of how
    steep the output is: by the chain rule σ'(f) cancels, so it equals Σ_a (D_a f)² / |∇_p f|² on the
    logit f, and that is how it is computed. On σ(f) the cancellation would need |∇_p σ(f)|² to stay far
    above any guard against 0/0, which it does not for saturated outputs of TeV-scale inputs. A jet whose
    logit does not depend on its momenta has no Lie derivatives either and contributes 0.
    """

    name = "dseal"
    METHODS = ("jvp", "grad")

    def __init__(self, generator_names: Sequence[str] = GENERATOR_NAMES, normalised: bool = False,
                 method: str = "jvp"):
        unknown = sorted(set(generator_names) - set(GENERATOR_NAMES))
        if unknown or not generator_names:
            raise ConfigError(
                f"dseal generators must be a non-empty subset of {', '.join(GENERATOR_NAMES)}; got {list(generator_names)}"
            )
        if method not in self.METHODS:
            raise ConfigError(f"dseal method must be one of {', '.join(self.METHODS)}, got {method!r}")
        self.generator_names = tuple(generator_names)
        self.normalised = normalised
        self.method = method

    def _tangents(self, p4: torch.Tensor) -> torch.Tensor:
        """(k, B, N, 4): T_a p for every chosen generator; padded rows stay zero."""
        gens = generators(dtype=p4.dtype, device=p4.device)
        return torch.stack([apply_lorentz(p4, gens[name]) for name in self.generator_names])

    def _output(self, logits: torch.Tensor) -> torch.Tensor:
        """What is differentiated: σ(f), or the logit f itself for the normalised penalty (see above)."""
        return logits if self.normalised else torch.sigmoid(logits)

    def input_gradient(self, model, batch: JetBatch) -> torch.Tensor:
        """∇_p of the output per jet, (B, N, 4), kept in the graph when gradients are on (jets are
        independent, so the gradient of the summed output is every jet's own gradient)."""
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad(), math_attention():
            p4 = batch.p4.detach().requires_grad_(True)
            output = self._output(model(p4, batch.mask))
            (grad,) = torch.autograd.grad(output.sum(), p4, create_graph=create_graph)
        return grad

    def _contract(self, grad: torch.Tensor, p4: torch.Tensor) -> torch.Tensor:
        """D_a σ(f) = Σ_i ∇_{p_i} σ(f) · (T_a p_i), for every generator: (k, B)."""
        return (grad.unsqueeze(0) * self._tangents(p4)).sum((-1, -2))

    def lie_derivatives(self, model, batch: JetBatch) -> torch.Tensor:
        """(n_generators, B) Lie derivatives of every jet's output (σ(f), or f when normalised),
        differentiable w.r.t. the weights."""
        if self.method == "grad":
            return self._contract(self.input_gradient(model, batch), batch.p4)
        k = len(self.generator_names)
        mask = batch.mask.repeat(k, 1)
        with math_attention():
            _, derivative = torch.func.jvp(lambda x: self._output(model(x, mask)), (batch.p4.repeat(k, 1, 1),),
                                           (self._tangents(batch.p4).flatten(0, 1),))
        return derivative.view(k, len(batch))

    def __call__(self, model, batch, logits=None):
        if not self.normalised:
            return self.lie_derivatives(model, batch).pow(2).sum(0).mean()
        grad = self.input_gradient(model, batch)
        lie = self._contract(grad, batch.p4) if self.method == "grad" else self.lie_derivatives(model, batch)
        norm = grad.pow(2).sum((-1, -2))
        # |D_a f| <= |∇f|·|T_a p|, so a jet with ∇f = 0 has lie = 0: the floor only turns 0/0 into 0.
        return (lie.pow(2).sum(0) / norm.clamp_min(torch.finfo(norm.dtype).tiny)).mean()


def make_penalty(name: str, seed: int = 0, **options) -> Penalty:
    """Build a penalty by name; ``seed`` seeds the random stream of penalties that draw transformations."""
    if name == "none":
        if options:
            raise ConfigError(f"penalty 'none' takes no options, got {sorted(options)}")
        return NoPenalty()
    if name == "seal":
        return SealPenalty(torch.Generator().manual_seed(seed), **options)
    if name == "dseal":
        return DsealPenalty(**options)
    raise ConfigError(f"unknown penalty {name!r}; choose one of {', '.join(PENALTIES)}")
