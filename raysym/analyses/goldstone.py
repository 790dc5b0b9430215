"""The pseudo-Goldstone scan (docs/methods.md §6.3; Glowacki 2026, §4.1, eqs. 5–6).

Glowacki perturbs a trained model's parameters along the leading Hessian eigenvector ν1,
θ → θ + εν1, and look at two things as ε runs over a symmetric grid: the loss L(θ + εν1), which stays
nearly flat along a pseudo-Goldstone mode, and the ratio of eq. 6,

    R(ε) = f_{θ+εν1}(x) / f_{θ+εν1}(g·x),

which is close to one when the perturbed model is still approximately Lorentz invariant (eq. 5).

**What f is.** Here f is the model's predicted signal probability σ(logit) ∈ (0, 1). The logit itself is
no good as f: it crosses zero, so its ratio is undefined or meaningless in sign. The probability is
strictly positive, so the ratio is well defined; it is computed as exp(log σ(z) − log σ(z')) in float64
(``torch.nn.functional.logsigmoid``), which never divides by an underflowed zero even for very negative
logits. R is taken per jet; a row reports its mean and (population) standard deviation over jets.

**What g is.** One random boost per jet from :func:`raysym.lorentz.random_boosts`, drawn from
``boost_seed`` alone, so every ε and every model (given the same jets) sees the same g·x.

The control is the same scan along a random unit direction (:func:`random_unit_direction`): a flat
loss and R ≈ 1 along ν1 mean something only if a generic direction of the same length looks different.

The model's parameters are set to θ + εν for each ε (computed from a saved copy of θ, so errors do not
accumulate) and restored bitwise afterwards, also when the loss raises.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from raysym.batch import JetBatch
from raysym.errors import ConfigError, DataError
from raysym.lorentz import apply_lorentz, random_boosts
from raysym.metrics import classification_metrics
from raysym.models.predict import PREDICT_BATCH_SIZE, predict_logits

#: Points in the default ε grid (odd, so ε = 0 is one of them) and its half-width along the unit vector
#: ν1. For λ1 ~ 20 (the quick study's teachers) ε = 0.2 already raises the loss by ½λ1ε² ≈ 0.4, the edge
#: of the quadratic regime; ε = 1 leaves it.
DEFAULT_POINTS = 21
DEFAULT_EPS_MAX = 0.2
#: Columns of the rows :func:`goldstone_scan` returns.
ROW_KEYS = ("direction", "epsilon", "loss", "r_mean", "r_std")

Direction = torch.Tensor | Sequence[torch.Tensor]


# -- the ε grid -------------------------------------------------------------------------------------

def symmetric_grid(eps_max: float = DEFAULT_EPS_MAX, n_points: int = DEFAULT_POINTS) -> tuple[float, ...]:
    """``n_points`` evenly spaced ε in [−eps_max, eps_max], ε = 0 included and exactly symmetric.

    Built as eps_max·i/k for i = −k..k, so ε and −ε are exact negatives of each other (``linspace`` does
    not promise that).
    """
    if not (isinstance(n_points, int) and n_points >= 3 and n_points % 2 == 1):
        raise ConfigError(f"the ε grid needs an odd number of points >= 3 (so ε = 0 is in it), got {n_points}")
    if not (math.isfinite(eps_max) and eps_max > 0):
        raise ConfigError(f"eps_max must be finite and > 0, got {eps_max}")
    k = n_points // 2
    return tuple(eps_max * i / k for i in range(-k, k + 1))


def check_epsilons(epsilons: Sequence[float]) -> tuple[float, ...]:
    """``epsilons`` sorted, after checking they form a symmetric grid about 0 that includes ε = 0.

    Symmetry is what makes the scan comparable on both sides of θ (a figure like the paper's Fig. 5 is
    read as even/odd around ε = 0); −ε must match ε to 1e-9 of the grid's width. Anything else is a
    ``ConfigError``.
    """
    try:
        values = sorted(float(e) for e in epsilons)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"ε values must be numbers, got {epsilons!r}") from err
    if not values:
        raise ConfigError("the ε grid is empty")
    if not all(math.isfinite(e) for e in values):
        raise ConfigError(f"ε values must be finite, got {values}")
    if 0.0 not in values:
        raise ConfigError(f"the ε grid must include ε = 0 (the trained model itself), got {values}")
    tol = 1e-9 * max(abs(e) for e in values)
    if any(abs(a + b) > tol for a, b in zip(values, reversed(values))):
        raise ConfigError(f"the ε grid must be symmetric about 0 (every ε with its −ε), got {values}")
    return tuple(values)


# -- directions in parameter space ------------------------------------------------------------------

def _parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    params = list(model.parameters())
    if not params:
        raise ConfigError("the model has no parameters to perturb")
    return params


def as_direction(model: torch.nn.Module, direction: Direction) -> list[torch.Tensor]:
    """``direction`` as one tensor per parameter (shape, dtype and device of that parameter).

    Accepts a flat vector over ``model.parameters()`` (in that order, as
    ``torch.nn.utils.parameters_to_vector`` lays it out) or a list of tensors shaped like the
    parameters (as pyhessian returns eigenvectors). A wrong size or a NaN is a ``ConfigError``.
    """
    params = _parameters(model)
    if isinstance(direction, torch.Tensor):
        flat = direction.detach().reshape(-1)
        total = sum(p.numel() for p in params)
        if flat.numel() != total:
            raise ConfigError(f"the direction has {flat.numel()} entries, the model {total} parameters")
        parts = torch.split(flat, [p.numel() for p in params])
        pieces = [part.reshape(p.shape) for part, p in zip(parts, params)]
    else:
        pieces = [torch.as_tensor(d).detach() for d in direction]
        if len(pieces) != len(params):
            raise ConfigError(f"the direction has {len(pieces)} tensors, the model {len(params)} parameters")
        for i, (d, p) in enumerate(zip(pieces, params)):
            if d.shape != p.shape:
                raise ConfigError(f"direction tensor {i} has shape {tuple(d.shape)}, its parameter "
                                  f"{tuple(p.shape)}")
    pieces = [d.to(dtype=p.dtype, device=p.device) for d, p in zip(pieces, params)]
    if not all(torch.isfinite(d).all() for d in pieces):
        raise ConfigError("the direction has NaN or infinite entries")
    return pieces


def random_unit_direction(model: torch.nn.Module, seed: int) -> torch.Tensor:
    """A seeded random direction of unit length over ``model.parameters()`` (flat vector).

    The control of the scan: Gaussian entries normalised in float64 (uniform on the sphere), then cast
    to the parameters' dtype. The same seed and parameter count give the same direction.
    """
    params = _parameters(model)
    total = sum(p.numel() for p in params)
    generator = torch.Generator().manual_seed(int(seed))
    v = torch.randn(total, generator=generator, dtype=torch.float64)
    return (v / v.norm()).to(dtype=params[0].dtype, device=params[0].device)


# -- the scanned quantities -------------------------------------------------------------------------

def evaluation_loss(model: torch.nn.Module, jets: JetBatch, batch_size: int = PREDICT_BATCH_SIZE) -> float:
    """Mean BCE of ``model`` on ``jets`` (logits batched without gradients, reduced in float64).

    The L(θ) of the scan: the same function gives the scan's ε = 0 point and the plain loss.
    """
    if jets.y is None:
        raise DataError("the scan's loss needs targets: jets.y is None (or pass loss=...)")
    device = next(model.parameters()).device
    logits = predict_logits(model, jets.p4, jets.mask, batch_size, device)
    return classification_metrics(logits, jets.y.detach().cpu().numpy())["bce"]


def boosted(jets: JetBatch, boost_seed: int) -> JetBatch:
    """The jets with one random boost each (docs/methods.md §3.1 distribution), drawn from ``boost_seed`` only."""
    boosts = random_boosts(len(jets), torch.Generator().manual_seed(int(boost_seed)), dtype=jets.p4.dtype,
                           device=jets.p4.device)
    return JetBatch(apply_lorentz(jets.p4, boosts), jets.mask, jets.y)


def probability_ratio(logits_x: np.ndarray, logits_gx: np.ndarray) -> np.ndarray:
    """Per-jet R = σ(z_x) / σ(z_gx) of eq. 6, as exp(log σ(z_x) − log σ(z_gx)) in float64.

    Log-sigmoid is finite for any finite logit, so R never divides by an underflowed zero.
    """
    zx, zgx = torch.as_tensor(logits_x, dtype=torch.float64), torch.as_tensor(logits_gx, dtype=torch.float64)
    if not (torch.isfinite(zx).all() and torch.isfinite(zgx).all()):
        raise DataError("the model's logits are NaN or infinite; R(ε) is undefined")
    return torch.exp(F.logsigmoid(zx) - F.logsigmoid(zgx)).numpy()


# -- the scan ---------------------------------------------------------------------------------------

def _set_parameters(params, base, direction, eps: float) -> None:
    with torch.no_grad():
        for p, theta, v in zip(params, base, direction):
            # ε = 0 is θ itself, bit for bit (θ + 0·v could turn −0.0 into +0.0).
            p.copy_(theta if eps == 0 else theta + eps * v)


def scan_direction(
    model: torch.nn.Module,
    direction: Direction,
    jets: JetBatch,
    epsilons: Sequence[float] | None = None,
    *,
    name: str = "nu1",
    boost_seed: int = 0,
    batch_size: int = PREDICT_BATCH_SIZE,
    loss: Callable[[torch.nn.Module], float] | None = None,
) -> list[dict]:
    """Rows (direction=name, epsilon, loss, r_mean, r_std) along one direction (eqs. 5–6).

    ``loss(model) -> float`` replaces the default BCE on ``jets`` (:func:`evaluation_loss`), e.g. a
    closure over the training batches; it is called with the model in eval mode at θ + εν. R always
    uses ``jets``. ``direction`` is used as given: ε is in
    units of its length, so pass a unit vector (ν1 from a Hessian routine is one). The parameters are
    restored bitwise, and the model's train/eval mode too, whatever happens.
    """
    epsilons = check_epsilons(symmetric_grid() if epsilons is None else epsilons)
    params = _parameters(model)
    vector = as_direction(model, direction)
    loss_fn = loss if loss is not None else (lambda m: evaluation_loss(m, jets, batch_size))
    moved = boosted(jets, boost_seed)
    device = params[0].device
    base = [p.detach().clone() for p in params]
    was_training = model.training
    rows = []
    try:
        model.eval()
        for eps in epsilons:
            _set_parameters(params, base, vector, eps)
            r = probability_ratio(predict_logits(model, jets.p4, jets.mask, batch_size, device),
                                  predict_logits(model, moved.p4, moved.mask, batch_size, device))
            rows.append({"direction": name, "epsilon": eps, "loss": float(loss_fn(model)),
                         "r_mean": float(r.mean()), "r_std": float(r.std())})
    finally:
        with torch.no_grad():
            for p, theta in zip(params, base):
                p.copy_(theta)
        model.train(was_training)
    return rows


def goldstone_scan(
    model: torch.nn.Module,
    nu1: Direction,
    jets: JetBatch,
    epsilons: Sequence[float] | None = None,
    *,
    boost_seed: int = 0,
    control_seed: int = 0,
    batch_size: int = PREDICT_BATCH_SIZE,
    loss: Callable[[torch.nn.Module], float] | None = None,
) -> list[dict]:
    """The pseudo-Goldstone scan and its control: rows along ν1 ("nu1") then a random unit direction
    ("random", from ``control_seed``), on the same ε grid and the same boosted jets.

    ν1 is defined up to sign only; the grid is symmetric, so the sign does not matter.
    """
    rows = scan_direction(model, nu1, jets, epsilons, name="nu1", boost_seed=boost_seed,
                          batch_size=batch_size, loss=loss)
    control = random_unit_direction(model, control_seed)
    return rows + scan_direction(model, control, jets, epsilons, name="random", boost_seed=boost_seed,
                                 batch_size=batch_size, loss=loss)
