"""Distilling a trained teacher into a smaller student (Glowacki §3.5 and §4.4; docs/methods.md §6.5).

Glowacki measures how compressible a teacher's function is: a fixed student is trained to reproduce the
teacher's logits, L_distill = (1/B) Σ_i (s(x_i) − t(x_i))², with the same recipe for every teacher, and
a lower or faster-falling MSE means a simpler function. ``distill`` is that run in plain PyTorch: the fit
loop of :mod:`raysym.training.loop`, as :func:`raysym.training.train` is, with the student's objective. It
reports every epoch with a checkpoint, resumes bitwise from one, and keeps the weights of the lowest
validation MSE. The teacher enters only through its logits on the training and validation jets, computed
once (:func:`teacher_logits`), so no teacher forward pass runs in the student's steps. Epoch 0 in the history is the untrained student, the start of the MSE curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from raysym.data.jetset import TaskJets
from raysym.errors import ConfigError, DataError
from raysym.models.predict import PREDICT_BATCH_SIZE, predict_logits
from raysym.training.checkpoint import load_best_model
from raysym.training.config import RunSettings
from raysym.training.loop import Report, fit


@dataclass(frozen=True)
class DistillConfig(RunSettings):
    """The student and its recipe: one fixed setting for every teacher, so MSEs compare teachers.

    Glowacki fixes the student (487,665 parameters: the ``paper`` preset's ``student``) and its
    optimisation without giving the recipe; Adam at learning rate 0.001 without weight decay, 30 epochs
    and batches of 256 are ours. ``model`` may be any model kind (a test distils a teacher into its own
    architecture). ``precision`` is the teacher's option (:class:`~raysym.training.config.TrainConfig`):
    ``"bf16"`` runs the student's forward passes under bfloat16 autocast.
    """

    model: str = "student"
    model_preset: str = "paper"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    task: str = "g_vs_w"
    seed: int = 0
    epochs: int = 30
    batch_size: int = 256
    eval_batch_size: int = PREDICT_BATCH_SIZE
    lr: float = 0.001
    weight_decay: float = 0.0
    device: str = "cpu"
    precision: str = "float32"

    KIND = "distillation"
    LABEL = "distillation "
    SEED_LABEL = "student seed"

    def __post_init__(self) -> None:
        self.check_recipe()


@dataclass
class DistillResult:
    """The outcome of a distillation: the lowest-validation-MSE student and the full history."""

    config: DistillConfig
    model: torch.nn.Module  # holding the best weights
    best_epoch: int
    best_val_mse: float
    history: list[dict[str, float]]
    checkpoint: dict[str, Any]  # the last epoch's checkpoint


def teacher_logits(model_path: str, jets: Mapping[str, TaskJets], batch_size: int = PREDICT_BATCH_SIZE,
                   ) -> dict[str, np.ndarray]:
    """The best model in ``model_path``'s logits on each split of ``jets`` (float32): a student's targets."""
    model, _, _ = load_best_model(model_path)
    return {split: predict_logits(model, torch.from_numpy(np.ascontiguousarray(view.p4)),
                                  torch.from_numpy(np.ascontiguousarray(view.mask)), batch_size).astype(np.float32)
            for split, view in jets.items()}


def _split(jets: TaskJets, targets: np.ndarray, name: str, device) -> tuple[torch.Tensor, ...]:
    """(p4, mask, teacher logits) tensors of one split, checked to line up."""
    targets = np.asarray(targets)
    if targets.shape != (len(jets),):
        raise DataError(f"the teacher's {name} logits have shape {targets.shape}, the {name} split {len(jets)} jets")
    if not np.isfinite(targets).all():
        raise DataError(f"the teacher's {name} logits are NaN or infinite")
    if len(jets) == 0:
        raise DataError(f"the {name} split has no jets")
    return (torch.as_tensor(np.asarray(jets.p4)).float().to(device), torch.as_tensor(np.asarray(jets.mask)).to(device),
            torch.as_tensor(targets).float().to(device))


def _mse(model: torch.nn.Module, split: tuple[torch.Tensor, ...], batch_size: int, device) -> float:
    """Mean squared difference of the student's and the teacher's logits over a whole split (float64)."""
    p4, mask, targets = split
    logits = predict_logits(model, p4, mask, batch_size, device)
    return float(np.mean((logits - targets.double().cpu().numpy()) ** 2))


class DistillationObjective:
    """A student's objective: the mean squared difference of its logits and the teacher's per batch; the
    validation MSE over the whole split picks the best weights; epoch 0 is the untrained student."""

    selection, watched, watched_label, what = "val_mse", "train_mse", "train MSE", "distillation"
    generator = None

    def __init__(self, config: DistillConfig, train, val):
        self.config, self.train, self.val = config, train, val

    def loss(self, forward, batch):
        loss = F.mse_loss(forward(batch.p4, batch.mask), batch.y)
        return loss, {"mse": loss.item()}

    def train_metrics(self, means):
        return {"train_mse": means["mse"]}

    def validate(self, model):
        return {"val_mse": _mse(model, self.val, self.config.eval_batch_size, self.config.device)}

    def initial(self, model):
        val_mse = _mse(model, self.val, self.config.eval_batch_size, self.config.device)
        return {"train_mse": _mse(model, self.train, self.config.eval_batch_size, self.config.device),
                "val_mse": val_mse}


def distill(config: DistillConfig, data: Mapping[str, TaskJets], logits: Mapping[str, np.ndarray],
            checkpoint: dict[str, Any] | None = None, report: Report | None = None,
            initial_weights: Mapping[str, torch.Tensor] | None = None) -> DistillResult:
    """Train ``config``'s student on ``data['train']`` to reproduce ``logits['train']``; select on val.

    Each epoch reports epoch, train_mse (the mean over the epoch's steps), val_mse (the whole validation
    split after the epoch), best_epoch, epoch_seconds and jets_per_second, with a checkpoint dict.
    ``initial_weights`` replace the seeded initialisation (a test starts a copy of the teacher).
    """
    if not isinstance(config, DistillConfig):
        raise ConfigError(f"distill needs a DistillConfig, got {type(config).__name__}")
    config.check_device()
    for name in ("train", "val"):
        if name not in data or name not in logits:
            raise DataError(f"distillation needs the {name!r} split's jets and teacher logits")
    train_set = _split(data["train"], logits["train"], "train", config.device)
    val_set = _split(data["val"], logits["val"], "val", config.device)
    result = fit(config, DistillationObjective(config, train_set, val_set), train_set, checkpoint, report,
                 initial_weights)
    return DistillResult(config, result.model, result.best_epoch, result.best_value, result.history,
                         result.checkpoint)
