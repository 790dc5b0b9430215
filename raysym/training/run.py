"""One training run (Glowacki §3.3): BCE + λ·penalty, Adam, best-validation weights kept, resumable.

``train`` is plain PyTorch: it gets jets and a config, calls ``report(metrics, checkpoint)`` after every
epoch, and can resume from any of those checkpoints. Resuming restores the weights, Adam's moments,
every random stream (global torch, batch shuffling, penalty transformations) and the history, so a run
stopped and resumed ends bitwise where the uninterrupted run ends (on the CPU). With ``precision="bf16"``
the network of each step runs under bfloat16 autocast (``TrainConfig.training_forward``); validation
runs the model itself, in float32.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from raysym.batch import batches
from raysym.errors import ConfigError, DataError
from raysym.metrics import classification_metrics
from raysym.models.predict import predict_logits
from raysym.penalties import make_penalty
from raysym.training.checkpoint import no_best, restore, training_checkpoint, weights
from raysym.training.config import TrainConfig

Report = Callable[[dict[str, float], dict[str, Any]], None]

#: Seed offsets, so the streams of one run never coincide.
_SHUFFLE_STREAM, _PENALTY_STREAM, _VAL_PENALTY_STREAM = 1, 2, 3


@dataclass
class TrainResult:
    """The outcome of a run: the lowest-validation-loss weights and the full history."""

    config: TrainConfig
    model: torch.nn.Module  # holding the best weights
    best_epoch: int
    best_val_loss: float
    history: list[dict[str, float]]
    checkpoint: dict[str, Any]  # the last epoch's checkpoint


def _as_tensors(jets, name: str, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(p4, mask, y) tensors from a TaskJets-like object, checked once so batches need no checks."""
    try:
        p4, mask, y = (torch.as_tensor(np.asarray(getattr(jets, k))) for k in ("p4", "mask", "y"))
    except AttributeError as err:
        raise DataError(f"{name} jets need p4, mask and y (a task view of a JetSet): {err}") from err
    if len(y) == 0:
        raise DataError(f"the {name} split has no jets")
    if not (y.min() == 0 and y.max() == 1):
        raise DataError(f"the {name} split holds only one class (y all {int(y[0])})")
    if not torch.isfinite(p4).all():
        raise DataError(f"the {name} split has NaN or infinite momenta")
    return p4.float().to(device), mask.bool().to(device), y.float().to(device)


def _validation(model, penalty_name, config, val) -> dict[str, float]:
    """Validation metrics; the penalty uses a fresh stream seeded the same every epoch."""
    p4, mask, y = val
    logits = predict_logits(model, p4, mask, config.eval_batch_size, config.device)
    metrics = classification_metrics(logits, y.cpu().numpy())
    penalty_value = 0.0
    if config.lam > 0:
        penalty = make_penalty(penalty_name, config.seed * 10 + _VAL_PENALTY_STREAM, **config.penalty_options)
        model.eval()
        total = 0.0
        with torch.no_grad():  # forward-mode δSEAL needs no autograd graph either
            for batch in batches(p4, mask, y, config.eval_batch_size):
                total += float(penalty(model, batch)) * len(batch)
        model.train()
        penalty_value = total / len(y)
    return {
        "val_bce": metrics["bce"],
        "val_penalty": penalty_value,
        "val_loss": metrics["bce"] + config.lam * penalty_value,
        "val_accuracy": metrics["accuracy"],
        "val_roc_auc": metrics["roc_auc"],
    }


def train(
    config: TrainConfig,
    data: Mapping[str, Any],
    checkpoint: dict[str, Any] | None = None,
    report: Report | None = None,
) -> TrainResult:
    """Train ``config`` on ``data['train']``, select on ``data['val']``; resume from ``checkpoint``.

    ``data`` maps split names to task views of jet sets (``JetSet.for_task``). Each epoch reports
    train_bce, train_penalty, train_loss, val_loss (BCE + λ·penalty), val_bce, val_penalty,
    val_accuracy, val_roc_auc, epoch_seconds and jets_per_second, with a checkpoint dict.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"train needs a TrainConfig, got {type(config).__name__}")
    config.check_device()
    for split in ("train", "val"):
        if split not in data:
            raise DataError(f"training data has no {split!r} split (got {sorted(data)})")
    train_set = _as_tensors(data["train"], "train", config.device)
    val_set = _as_tensors(data["val"], "val", config.device)

    model = config.build_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    forward = config.training_forward(model)  # the model, or the model under bf16 autocast
    penalty = make_penalty(config.penalty, config.seed * 10 + _PENALTY_STREAM, **config.penalty_options)
    penalty_generator = getattr(penalty, "generator", None)
    shuffle = torch.Generator().manual_seed(config.seed * 10 + _SHUFFLE_STREAM)
    best, history, start_epoch = no_best(), [], 0
    if checkpoint is not None:
        start_epoch, best, history = restore(checkpoint, config, model, optimizer, shuffle, penalty_generator)

    p4, mask, y = train_set
    n_train = len(y)
    last_checkpoint: dict[str, Any] = checkpoint or {}
    for epoch in range(start_epoch, config.epochs):
        model.train()
        start = time.perf_counter()
        sums = {"bce": 0.0, "penalty": 0.0}
        order = torch.randperm(n_train, generator=shuffle).to(config.device)
        for batch in batches(p4, mask, y, config.batch_size, order):
            logits = forward(batch.p4, batch.mask)
            bce = F.binary_cross_entropy_with_logits(logits, batch.y)
            # The penalty calls ``forward`` too: its forward passes run in the step's precision, its boosts
            # and tangents in float32.
            pen = penalty(forward, batch, logits) if config.lam > 0 else logits.new_zeros(())
            loss = bce + config.lam * pen
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums["bce"] += bce.item() * len(batch)
            sums["penalty"] += pen.item() * len(batch)
        train_seconds = time.perf_counter() - start
        metrics = {
            "epoch": epoch + 1,
            "train_bce": sums["bce"] / n_train,
            "train_penalty": sums["penalty"] / n_train,
        }
        metrics["train_loss"] = metrics["train_bce"] + config.lam * metrics["train_penalty"]
        metrics.update(_validation(model, config.penalty, config, val_set))
        if not np.isfinite(metrics["train_loss"]):
            raise DataError(f"training diverged at epoch {epoch + 1}: train loss is {metrics['train_loss']}")
        if metrics["val_loss"] < best["val_loss"]:
            best = {"epoch": epoch + 1, "val_loss": metrics["val_loss"], "model": weights(model)}
        metrics["best_epoch"] = best["epoch"]
        metrics["epoch_seconds"] = time.perf_counter() - start
        metrics["jets_per_second"] = n_train / train_seconds
        history.append(metrics)
        last_checkpoint = training_checkpoint(config, epoch + 1, model, optimizer, shuffle, penalty_generator,
                                              best, history)
        if report is not None:
            report(dict(metrics), last_checkpoint)

    if best["model"] is None:
        raise ConfigError("nothing to train: the checkpoint already covers every epoch and holds no best weights")
    model.load_state_dict(best["model"])
    return TrainResult(config, model, best["epoch"], best["val_loss"], history, last_checkpoint)
