"""Robustness to constituent pT smearing (docs/methods.md §6.4; Glowacki 2026, §4.2, eq. 7, Fig. 7).

The paper links flat loss geometry to robustness: a model with a smaller leading Hessian eigenvalue should
lose less ROC-AUC when its inputs are perturbed. The perturbation is eq. 7, p'_T = p_T(1 + σε) with
ε ~ N(0, 1) per constituent and η, φ kept (:func:`raysym.smearing.smear_pt` scales the whole four-vector).
The models compute their features from the four-momenta, so smearing p4 is all it takes.

The noise for the i-th σ is drawn from a generator seeded by (seed, i) and for the whole set at once, so
every model sees the same smeared jets whatever its batch size, and σ = 0 is the unsmeared jets
themselves (its AUC equals plain evaluation exactly).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from raysym.data.jetset import TaskJets
from raysym.errors import ConfigError
from raysym.metrics import classification_metrics
from raysym.models.predict import PREDICT_BATCH_SIZE, predict_logits
from raysym.smearing import smear_pt

#: The smearing widths of the sweep by default, up to σ = 0.5 (ours: the paper gives no σ values).
DEFAULT_SIGMAS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
#: Columns of the rows :func:`smearing_sweep` returns.
ROW_KEYS = ("sigma", "task", "roc_auc", "accuracy", "n_jets")


def check_sigmas(sigmas: Sequence[float]) -> tuple[float, ...]:
    """``sigmas`` as floats after checking there is at least one and each is finite and >= 0."""
    if isinstance(sigmas, (int, float)):
        sigmas = (sigmas,)
    try:
        values = tuple(float(s) for s in sigmas)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"smearing widths sigma must be numbers, got {sigmas!r}") from err
    if not values:
        raise ConfigError("no smearing widths given: sigmas is empty")
    bad = [s for s in values if not (math.isfinite(s) and s >= 0)]
    if bad:
        raise ConfigError(f"smearing widths sigma must be finite and >= 0, got {bad} in {values}")
    return values


def noise_generator(seed: int, index: int) -> torch.Generator:
    """The generator of the ``index``-th σ: a stream of its own, fixed by (seed, index) alone."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def smeared_momenta(p4: torch.Tensor, mask: torch.Tensor, sigma: float, seed: int, index: int) -> torch.Tensor:
    """The jets of the ``index``-th σ: ``p4`` itself at σ = 0, else eq. 7 with the (seed, index) noise."""
    if sigma == 0:
        return p4
    return smear_pt(p4, mask, sigma, noise_generator(seed, index))


def smearing_sweep(
    model: torch.nn.Module,
    test_jets: TaskJets,
    sigmas: Sequence[float] = DEFAULT_SIGMAS,
    seed: int = 0,
    batch_size: int = PREDICT_BATCH_SIZE,
) -> list[dict]:
    """Rows (sigma, task, roc_auc, accuracy, n_jets), one per σ, of ``model`` on smeared ``test_jets``."""
    sigmas = check_sigmas(sigmas)
    if not isinstance(test_jets, TaskJets):
        raise ConfigError(f"the smearing sweep needs the jets of one task (TaskJets, from JetSet.for_task), "
                          f"got {type(test_jets).__name__}")
    tensors = test_jets.to_torch()
    p4, mask = tensors["p4"], tensors["mask"]
    device = next(model.parameters()).device
    rows = []
    for index, sigma in enumerate(sigmas):
        logits = predict_logits(model, smeared_momenta(p4, mask, sigma, seed, index), mask, batch_size, device)
        metrics = classification_metrics(logits, test_jets.y, test_jets.weight)  # weighted where the jets are
        rows.append({"sigma": sigma, "task": test_jets.task, "roc_auc": metrics["roc_auc"],
                     "accuracy": metrics["accuracy"], "n_jets": len(test_jets)})
    return rows
