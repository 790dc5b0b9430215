"""One training run (Glowacki §3.3): BCE + λ·penalty, Adam, best-validation weights kept, resumable.

``train`` is plain PyTorch: it gets jets and a config, calls ``report(metrics, checkpoint)`` after every
epoch, and can resume from any of those checkpoints. It is the fit loop of :mod:`raysym.training.loop` with
the classifier's objective, :class:`ClassifierObjective`. Resuming restores the weights, Adam's moments,
every random stream (global torch, batch shuffling, penalty transformations) and the history, so a run
stopped and resumed ends bitwise where the uninterrupted run ends (on the CPU). With ``precision="bf16"``
the network of each step runs under bfloat16 autocast (``TrainConfig.training_forward``); validation
runs the model itself, in float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from raysym.batch import batches
from raysym.errors import ConfigError, DataError
from raysym.metrics import classification_metrics
from raysym.models.predict import predict_logits
from raysym.penalties import make_penalty
from raysym.training.config import TrainConfig
from raysym.training.loop import SHUFFLE_STREAM, Report, fit

#: Seed offsets, so the streams of one run never coincide (the shuffling stream's is the loop's).
_PENALTY_STREAM, _VAL_PENALTY_STREAM = 2, 3
assert SHUFFLE_STREAM not in (_PENALTY_STREAM, _VAL_PENALTY_STREAM)


@dataclass
class TrainResult:
    """The outcome of a run: the lowest-validation-loss weights and the full history."""

    config: TrainConfig
    model: torch.nn.Module  # holding the best weights
    best_epoch: int
    best_val_loss: float
    history: list[dict[str, float]]
    checkpoint: dict[str, Any]  # the last epoch's checkpoint


def _as_tensors(jets, name: str, device) -> tuple[torch.Tensor, ...]:
    """(p4, mask, y) tensors from a TaskJets-like object, and its per-jet weights as a fourth where it has
    them, checked once so batches need no checks."""
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
    tensors = (p4.float().to(device), mask.bool().to(device), y.float().to(device))
    weight = getattr(jets, "weight", None)
    return tensors if weight is None else (*tensors, torch.as_tensor(np.asarray(weight)).float().to(device))


def _validation(model, config: TrainConfig, val) -> dict[str, float]:
    """Validation metrics; the penalty uses a fresh stream seeded the same every epoch."""
    p4, mask, y, *weight = val
    logits = predict_logits(model, p4, mask, config.eval_batch_size, config.device)
    metrics = classification_metrics(logits, y.cpu().numpy(), weight[0].cpu().numpy() if weight else None)
    penalty_value = 0.0
    if config.lam > 0:
        penalty = make_penalty(config.penalty, config.seed * 10 + _VAL_PENALTY_STREAM, **config.penalty_options)
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


class ClassifierObjective:
    """A teacher's objective (Glowacki eq. 1): BCE + λ·penalty per batch; validation BCE + λ·penalty, the
    number the best weights are chosen by. The penalty's random stream is saved with every checkpoint."""

    selection, watched, watched_label, what = "val_loss", "train_loss", "train loss", "training"

    def __init__(self, config: TrainConfig, val: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
        self.config, self.val = config, val
        self.penalty = make_penalty(config.penalty, config.seed * 10 + _PENALTY_STREAM, **config.penalty_options)
        self.generator = getattr(self.penalty, "generator", None)

    def loss(self, forward, batch):
        logits = forward(batch.p4, batch.mask)
        if batch.weight is None:
            bce = F.binary_cross_entropy_with_logits(logits, batch.y)
        else:  # a weighted data set: the batch's weighted mean, Σ w·ℓ / Σ w
            bce = (F.binary_cross_entropy_with_logits(logits, batch.y, reduction="none") * batch.weight).sum() \
                / batch.weight.sum()
        # The penalty calls ``forward`` too: its forward passes run in the step's precision, its boosts and
        # tangents in float32.
        pen = self.penalty(forward, batch, logits) if self.config.lam > 0 else logits.new_zeros(())
        return bce + self.config.lam * pen, {"bce": bce.item(), "penalty": pen.item()}

    def train_metrics(self, means):
        return {"train_bce": means["bce"], "train_penalty": means["penalty"],
                "train_loss": means["bce"] + self.config.lam * means["penalty"]}

    def validate(self, model):
        return _validation(model, self.config, self.val)

    def initial(self, model):
        return None


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
    result = fit(config, ClassifierObjective(config, val_set), train_set, checkpoint, report)
    return TrainResult(config, result.model, result.best_epoch, result.best_value, result.history, result.checkpoint)
