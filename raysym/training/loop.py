"""The one fit loop: epochs of shuffled batches, a report and a checkpoint after each, the best weights kept,
bitwise resume. Teacher training (:mod:`raysym.training.run`) and distillation (:mod:`raysym.training.distill`)
are this loop with different objectives.

What differs between them is an :class:`Objective`: the loss of a batch and the numbers it adds up, the
validation after each epoch and the one number the best weights are chosen by, an optional row for the
weights before training (distillation's epoch 0), and any random stream of its own that a checkpoint must
save (SEAL's boosts). Everything else — Adam, the shuffling stream, the checkpoint format
(:mod:`raysym.training.checkpoint`), resume, divergence, timing — is written once, here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

import numpy as np
import torch

from raysym.batch import JetBatch, batches
from raysym.errors import ConfigError, DataError
from raysym.training.checkpoint import no_best, restore, training_checkpoint, weights

Report = Callable[[dict[str, float], dict[str, Any]], None]

#: Seed offset of the batch-shuffling stream (the initialisation uses the seed itself).
SHUFFLE_STREAM = 1


class Objective(Protocol):
    """What one kind of run minimises and how it is judged."""

    #: The validation number the best weights are chosen by (lowest wins): "val_loss", "val_mse".
    selection: str
    #: The training number that must stay finite ("train_loss", "train_mse"), how an error names it, and
    #: what diverges if it does not ("training", "distillation").
    watched: str
    watched_label: str
    what: str
    #: A random stream of the objective's own whose state every checkpoint saves, or None.
    generator: torch.Generator | None

    def loss(self, forward: Callable, batch: JetBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss to minimise on ``batch`` and the per-jet means of what the epoch adds up."""

    def train_metrics(self, means: Mapping[str, float]) -> dict[str, float]:
        """The epoch's training numbers from the means over its jets."""

    def validate(self, model: torch.nn.Module) -> dict[str, float]:
        """The validation numbers after an epoch, ``selection`` among them."""

    def initial(self, model: torch.nn.Module) -> dict[str, float] | None:
        """The row of the weights before any training (epoch 0), or None for no such row."""


@dataclass
class FitResult:
    """The outcome of a fit: the model holding the best weights, which epoch they are, their selection
    value, the whole history and the last epoch's checkpoint."""

    model: torch.nn.Module
    best_epoch: int
    best_value: float
    history: list[dict[str, float]]
    checkpoint: dict[str, Any]


def fit(config, objective: Objective, train: tuple[torch.Tensor, ...],
        checkpoint: dict[str, Any] | None = None, report: Report | None = None,
        initial_weights: Mapping[str, torch.Tensor] | None = None) -> FitResult:
    """Fit ``config``'s model (a run's settings: :class:`~raysym.training.config.RunSettings`) to ``objective``
    on ``train`` = (p4, mask, target) tensors, and per-jet weights as a fourth where the jets have them
    (each batch then carries its jets' weights), resuming from ``checkpoint`` if given.

    After every epoch ``report(metrics, checkpoint)`` gets ``epoch``, the objective's training and
    validation numbers, ``best_epoch``, ``epoch_seconds`` and ``jets_per_second``. ``initial_weights``
    replace the seeded initialisation.
    """
    model = config.build_model()
    if initial_weights is not None:
        model.load_state_dict(initial_weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    forward = config.training_forward(model)  # the model, or the model under bf16 autocast
    shuffle = torch.Generator().manual_seed(config.seed * 10 + SHUFFLE_STREAM)
    key = objective.selection
    if checkpoint is not None:
        start_epoch, best, history = restore(checkpoint, config, model, optimizer, shuffle, objective.generator)
        if key not in best:  # written before each number was stored under its own name: a student's "val_loss"
            best = {"epoch": best["epoch"], key: best.pop("val_loss"), "model": best["model"]}
    else:
        start_epoch, best, history = 0, no_best(key), []
        start = time.perf_counter()
        first = objective.initial(model)
        if first is not None:
            history = [{"epoch": 0, **first, "best_epoch": 0, "epoch_seconds": time.perf_counter() - start}]
            best = {"epoch": 0, key: first[key], "model": weights(model)}

    p4, mask, target, *jet_weights = train
    weight = jet_weights[0] if jet_weights else None
    n_train = len(target)
    last_checkpoint: dict[str, Any] = checkpoint or {}
    for epoch in range(start_epoch, config.epochs):
        model.train()
        start = time.perf_counter()
        sums: dict[str, float] = {}
        order = torch.randperm(n_train, generator=shuffle).to(config.device)
        for batch in batches(p4, mask, target, config.batch_size, order, weight):
            loss, parts = objective.loss(forward, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + value * len(batch)
        train_seconds = time.perf_counter() - start
        metrics = {"epoch": epoch + 1, **objective.train_metrics({k: v / n_train for k, v in sums.items()})}
        metrics.update(objective.validate(model))
        if not np.isfinite(metrics[objective.watched]):
            raise DataError(f"{objective.what} diverged at epoch {epoch + 1}: {objective.watched_label} is "
                            f"{metrics[objective.watched]}")
        if metrics[key] < best[key]:
            best = {"epoch": epoch + 1, key: metrics[key], "model": weights(model)}
        metrics["best_epoch"] = best["epoch"]
        metrics["epoch_seconds"] = time.perf_counter() - start
        metrics["jets_per_second"] = n_train / train_seconds
        history.append(metrics)
        last_checkpoint = training_checkpoint(config, epoch + 1, model, optimizer, shuffle, objective.generator,
                                              best, history)
        if report is not None:
            report(dict(metrics), last_checkpoint)

    if best["model"] is None:
        raise ConfigError("nothing to train: the checkpoint already covers every epoch and holds no best weights")
    model.load_state_dict(best["model"])
    return FitResult(model, best["epoch"], best[key], history, last_checkpoint)
