"""How Lorentz-symmetric a trained tagger is, measured on its outputs (Glowacki 2026, §2.3 and eq. 5;
Nabat et al., arXiv:2412.18773).

Glowacki calls a model symmetric when f(g·x) = f(x) for every g in the group (§2.3) and shows, through
the loss geometry and eq. 5, that a soft bias (SEAL, docs/methods.md §3.1) makes the trained model
*approximately* so. The Hessian and the pseudo-Goldstone scan see this only indirectly. Here it is
measured directly, with the same quantity the SEAL penalty squares: for test jets x and Lorentz
transformations Λ, the violation

    v(x, Λ) = |σ(f(x)) − σ(f(Λx))|,    σ the logistic function, f the model's logit,

summarised (mean and 90th percentile) per bin of boost speed |β| and per bin of rotation angle. Binning
shows *where* a model has learned the symmetry: a soft penalty trained on β² ~ U(0, 0.95) may hold for
small boosts and fail for large ones, and rotations, which a penalty of boosts alone never shows the
model, are a separate question.

For the dual-subnet model of Nabat et al., which decides per jet how much to trust the symmetry, the
learned factor w_inv itself is the answer, so :func:`symmetry_factor` histograms it over the jets.

**Precision.** The models are evaluated in float64 on a copy of the caller's model. In float32 a
Minkowski product of two TeV-scale constituents (more after a boost) is off by ~10⁻⁷·E² ≈ 0.1 GeV² or
more, as large as the physics in a collinear pair's x_ij: the hard-invariant model, exact by
construction, then reads violations of ~10⁻³ on average and up to a few 10⁻² for single jets under
|β| ≈ 0.9 boosts. In float64 it reads ~10⁻¹² on average (single pairs up to ~10⁻¹⁰ for 3 TeV jets), so a
reading above ~10⁻⁸ is the model's own.

**Draws.** The transformations come from a ``torch.Generator`` seeded by (seed, transform) alone, drawn
for all jets at once before any batching: the same numbers on every call, whatever ``batch_size``. Every
bin of a transform reuses the same directions (axes) and the same position u ∈ [0, 1) within the bin,
so two bins differ only in |β| (or the angle) — common random numbers, which make the bin-to-bin
comparison sharper than independent draws would.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import torch

from raysym.errors import ConfigError, DataError, positive_int
from raysym.lorentz import apply_lorentz, boost_matrix, random_unit_vectors, rotation_matrix

#: Bins of boost speed |β|. The top edge 0.95 (γ ≈ 3.2) stays inside the SEAL training range,
#: |β| ≤ √0.95 ≈ 0.975 (docs/methods.md §3.1), so every bin is one a SEAL-trained model has seen.
DEFAULT_BETA_EDGES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 0.95)
#: Bins of rotation angle, quarter turns up to π (an angle θ > π about n̂ is 2π − θ about −n̂).
DEFAULT_ANGLE_EDGES: tuple[float, ...] = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4, math.pi)
#: The transforms of :func:`symmetry_violation`, in row order; the index is the draw stream's number.
TRANSFORMS: tuple[str, ...] = ("boost", "rotation")
#: Columns of the rows of :func:`symmetry_violation` and of :func:`symmetry_factor`.
ROW_KEYS = ("transform", "bin_low", "bin_high", "mean", "p90", "n_jets", "n_transforms")
FACTOR_ROW_KEYS = ("transform", "bin_low", "bin_high", "fraction", "mean", "p90", "n_jets", "n_transforms")
#: Batch size of both functions by default: each forward pass keeps no activations for backward.
DEFAULT_BATCH_SIZE = 512


def check_edges(edges: Sequence[float], upper: float, what: str, *,
                upper_inclusive: bool | None = None) -> tuple[float, ...]:
    """``edges`` as floats after checking they are >= 2 strictly increasing finite numbers in [0, upper].

    ``what`` names the setting in the message. The upper bound is inclusive (π for rotation angles is a
    fine edge) except, by default, when ``upper`` is 1: that is the speed of light for |β|, which no
    boost reaches (γ is infinite there), so β edges must be < 1. ``upper_inclusive`` overrides this.
    Anything else is a ``ConfigError``, before any model is run.
    """
    inclusive = (upper != 1.0) if upper_inclusive is None else bool(upper_inclusive)
    if isinstance(edges, (str, bytes)) or not hasattr(edges, "__iter__"):
        raise ConfigError(f"{what} must be a sequence of bin edges, got {edges!r}")
    try:
        values = tuple(float(e) for e in edges)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what} must be numbers, got {edges!r}") from err
    if len(values) < 2:
        raise ConfigError(f"{what} needs at least 2 edges (one bin), got {values}")
    interval = f"[0, {upper:g}{']' if inclusive else ')'}"
    bad = [e for e in values if not (math.isfinite(e) and 0.0 <= e and (e <= upper if inclusive else e < upper))]
    if bad:
        raise ConfigError(f"{what} must be finite and in {interval}, got {bad} in {values}")
    if any(b <= a for a, b in pairwise(values)):
        raise ConfigError(f"{what} must be strictly increasing, got {values}")
    return values


def transform_generator(seed: int, transform: str) -> torch.Generator:
    """The generator of one transform's draws: a stream of its own, fixed by (seed, transform) alone."""
    stream = TRANSFORMS.index(transform)
    state = np.random.SeedSequence([int(seed), stream]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def random_transforms(transform: str, n: int, low: float, high: float, seed: int) -> torch.Tensor:
    """``n`` float64 (4, 4) matrices of one bin: isotropic direction, size uniform in [low, high).

    For "boost" the size is |β| and the direction that of β⃗ (:func:`raysym.lorentz.boost_matrix`); for
    "rotation" it is the angle and the direction the axis (:func:`raysym.lorentz.rotation_matrix`, acting
    on the 3-momentum only). The directions and the position within the bin depend on (seed, transform,
    n) only, so every bin of a transform shares them (see the module docstring).
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")
    generator = transform_generator(seed, transform)
    direction = random_unit_vectors(n, generator, torch.float64)
    u = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    vector = direction * (low + u * (high - low))
    return boost_matrix(vector) if transform == "boost" else rotation_matrix(vector)


def _check_jets(p4, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(p4 as float64, mask as bool), or a ``DataError`` saying what is wrong with the jets."""
    p4, mask = torch.as_tensor(p4), torch.as_tensor(mask)
    if p4.dim() != 3 or p4.shape[-1] != 4:
        raise DataError(f"p4 must be (jets, constituents, 4) four-momenta, got shape {tuple(p4.shape)}")
    if tuple(mask.shape) != tuple(p4.shape[:2]):
        raise DataError(f"mask shape {tuple(mask.shape)} does not match p4 shape {tuple(p4.shape)}")
    if p4.shape[0] == 0:
        raise DataError("no jets: p4 holds 0 jets, so there is nothing to measure")
    p4 = p4.to(torch.float64)
    bad = ~torch.isfinite(p4).reshape(p4.shape[0], -1).all(-1)
    if bad.any():
        raise DataError(f"p4 has NaN or infinite momenta in {int(bad.sum())} of {p4.shape[0]} jets "
                        f"(first: jet {int(bad.nonzero()[0])})")
    return p4, mask.bool()


def _double_copy(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.device]:
    """A float64 copy of ``model`` in eval mode and its device; the caller's model is left as it is."""
    twin = copy.deepcopy(model).to(torch.float64).eval()
    params = list(twin.parameters())
    return twin, params[0].device if params else torch.device("cpu")


def _check_logits(logits: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(logits).all():
        raise DataError("the model's logits are NaN or infinite; the symmetry violation is undefined")
    return logits


@torch.no_grad()
def symmetry_violation(
    model: torch.nn.Module,
    p4: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta_edges: Sequence[float] = DEFAULT_BETA_EDGES,
    angle_edges: Sequence[float] = DEFAULT_ANGLE_EDGES,
    transforms_per_jet: int = 4,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[dict]:
    """Rows (transform, bin_low, bin_high, mean, p90, n_jets, n_transforms) of |σ(f(x)) − σ(f(Λx))|.

    One row per bin of ``beta_edges`` (transform "boost") and then of ``angle_edges`` ("rotation"); in
    each, every jet gets ``transforms_per_jet`` transformations of that bin (:func:`random_transforms`),
    and mean and p90 run over all n_transforms = n_jets × transforms_per_jet (jet, Λ) pairs. Λ is
    linear, so padded slots (zero four-momenta) stay zero, and the mask goes in unchanged; the models
    read padding from the mask alone (masked features, masked Gram matrix), so padding stays padding.
    ``batch_size`` counts (jet, Λ) pairs per forward pass; ``seed`` is a non-negative integer.
    """
    beta_edges = check_edges(beta_edges, 1.0, "beta_edges", upper_inclusive=False)
    angle_edges = check_edges(angle_edges, math.pi, "angle_edges", upper_inclusive=True)
    per_jet = positive_int("transforms_per_jet", transforms_per_jet)
    batch_size = positive_int("batch_size", batch_size)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    p4, mask = _check_jets(p4, mask)
    twin, device = _double_copy(model)

    def logits(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return _check_logits(twin(x.to(device), m.to(device)).to(torch.float64).cpu())

    n_jets = p4.shape[0]
    reference = torch.cat([torch.sigmoid(logits(p4[s:s + batch_size], mask[s:s + batch_size]))
                           for s in range(0, n_jets, batch_size)])
    n_pairs = n_jets * per_jet
    rows = []
    for transform, edges in (("boost", beta_edges), ("rotation", angle_edges)):
        for low, high in pairwise(edges):
            matrices = random_transforms(transform, n_pairs, low, high, seed)
            violation = torch.empty(n_pairs, dtype=torch.float64)
            for start in range(0, n_pairs, batch_size):
                pairs = torch.arange(start, min(start + batch_size, n_pairs))
                jets = pairs // per_jet  # pair k is transformation k % per_jet of jet k // per_jet
                moved = torch.sigmoid(logits(apply_lorentz(p4[jets], matrices[pairs]), mask[jets]))
                violation[pairs] = (reference[jets] - moved).abs()
            values = violation.numpy()
            rows.append({"transform": transform, "bin_low": low, "bin_high": high,
                         "mean": float(values.mean()), "p90": float(np.quantile(values, 0.9)),
                         "n_jets": n_jets, "n_transforms": n_pairs})
    return rows


@torch.no_grad()
def symmetry_factor(
    model: torch.nn.Module,
    p4: torch.Tensor,
    mask: torch.Tensor,
    *,
    bins: int = 20,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[dict]:
    """Histogram of the dual model's learned symmetry factor w_inv over the jets, in ``bins`` bins of [0, 1].

    Rows (transform="factor", bin_low, bin_high, fraction, mean, p90, n_jets, n_transforms=0): fraction
    is the share of jets in the bin (w_inv = 1 falls in the top bin; the fractions sum to 1); mean and
    p90 are over all jets and repeated in every row, so one row alone tells the summary. w_inv = 1 is an
    exactly invariant jet, w_inv = 0 the unconstrained transformer (Nabat et al.; docs/methods.md §4).
    Only the dual-subnet model has the gate ``weights(p4, mask) -> (w_gen, w_inv)``; any other model is
    a ``ConfigError``.
    """
    if not callable(getattr(model, "weights", None)):
        raise ConfigError(f"symmetry_factor needs the dual-subnet model, whose gate weights(p4, mask) gives "
                          f"(w_gen, w_inv); {type(model).__name__} has no such gate")
    bins = positive_int("bins", bins)
    batch_size = positive_int("batch_size", batch_size)
    p4, mask = _check_jets(p4, mask)
    twin, device = _double_copy(model)
    w_inv = torch.cat([twin.weights(p4[s:s + batch_size].to(device), mask[s:s + batch_size].to(device))[1]
                       .to(torch.float64).cpu() for s in range(0, p4.shape[0], batch_size)]).numpy()
    if not np.isfinite(w_inv).all():
        raise DataError("the model's symmetry factor w_inv is NaN or infinite on some jets")
    counts, _ = np.histogram(w_inv, bins=bins, range=(0.0, 1.0))  # the last bin is closed: w_inv = 1 counts
    n_jets = len(w_inv)
    mean, p90 = float(w_inv.mean()), float(np.quantile(w_inv, 0.9))
    return [{"transform": "factor", "bin_low": i / bins, "bin_high": (i + 1) / bins,
             "fraction": float(counts[i] / n_jets), "mean": mean, "p90": p90, "n_jets": n_jets,
             "n_transforms": 0} for i in range(bins)]
