"""Distilling a trained teacher into a smaller student (Glowacki §3.5 and §4.4; docs/methods.md §6.5).

Glowacki measures how compressible a teacher's function is: a fixed student is trained to reproduce the
teacher's logits, L_distill = (1/B) Σ_i (s(x_i) − t(x_i))², with the same recipe for every teacher, and
a lower or faster-falling MSE means a simpler function. ``distill`` is that run in plain PyTorch, shaped
like :func:`raysym.training.train`: it reports every epoch with a checkpoint, resumes bitwise from one,
and keeps the weights of the lowest validation MSE. The teacher enters only through its logits on the
training and validation jets, computed once (:func:`teacher_logits`), so no teacher forward pass runs in
the student's steps. Epoch 0 in the history is the untrained student, the start of the MSE curve.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from raysym.batch import batches
from raysym.data.jetset import TaskJets, check_task
from raysym.errors import ConfigError, DataError, positive_int
from raysym.models.predict import PREDICT_BATCH_SIZE, predict_logits
from raysym.models.registry import model_config
from raysym.settings_key import added_later
from raysym.training.checkpoint import load_best_model, restore, training_checkpoint, weights
from raysym.training.config import RunSettings, TrainConfig, check_precision

Report = Callable[[dict[str, float], dict[str, Any]], None]

#: Seed offset of the student's shuffling stream (its initialisation uses the seed itself).
_SHUFFLE_STREAM = 1


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
    precision: str = added_later("float32")

    KIND = "distillation"

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_options", dict(self.model_options))
        model_config(self.model, self.model_preset, **self.model_options)  # unknown kind, preset or size
        check_task(self.task)
        for name in ("epochs", "batch_size", "eval_batch_size"):
            positive_int(f"distillation {name}", getattr(self, name))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"distillation learning rate must be finite and > 0, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"distillation weight decay must be finite and >= 0, got {self.weight_decay}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"student seed must be a non-negative integer, got {self.seed!r}")
        check_precision(self.precision)

    def as_train_config(self) -> TrainConfig:
        """The student as a ``TrainConfig``: what its best-model file needs so that the evaluation stage
        (and anything else that loads best models) rebuilds it like any teacher."""
        return TrainConfig(model=self.model, model_preset=self.model_preset, model_options=self.model_options,
                           task=self.task, seed=self.seed, epochs=self.epochs, batch_size=self.batch_size,
                           eval_batch_size=self.eval_batch_size, lr=self.lr, weight_decay=self.weight_decay,
                           device=self.device, precision=self.precision)


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

    model = config.build_model()
    if initial_weights is not None:
        model.load_state_dict(initial_weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    forward = config.training_forward(model)
    shuffle = torch.Generator().manual_seed(config.seed * 10 + _SHUFFLE_STREAM)
    if checkpoint is not None:
        start_epoch, best, history = restore(checkpoint, config, model, optimizer, shuffle, None)
    else:
        start = time.perf_counter()
        val_mse = _mse(model, val_set, config.eval_batch_size, config.device)
        history = [{"epoch": 0, "train_mse": _mse(model, train_set, config.eval_batch_size, config.device),
                    "val_mse": val_mse, "best_epoch": 0, "epoch_seconds": time.perf_counter() - start}]
        start_epoch, best = 0, {"epoch": 0, "val_loss": val_mse, "model": weights(model)}

    p4, mask, targets = train_set
    n_train = len(targets)
    last_checkpoint: dict[str, Any] = checkpoint or {}
    for epoch in range(start_epoch, config.epochs):
        model.train()
        start = time.perf_counter()
        total = 0.0
        order = torch.randperm(n_train, generator=shuffle).to(config.device)
        for batch in batches(p4, mask, targets, config.batch_size, order):
            loss = F.mse_loss(forward(batch.p4, batch.mask), batch.y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        train_seconds = time.perf_counter() - start
        metrics = {"epoch": epoch + 1, "train_mse": total / n_train,
                   "val_mse": _mse(model, val_set, config.eval_batch_size, config.device)}
        if not np.isfinite(metrics["train_mse"]):
            raise DataError(f"distillation diverged at epoch {epoch + 1}: train MSE is {metrics['train_mse']}")
        if metrics["val_mse"] < best["val_loss"]:
            best = {"epoch": epoch + 1, "val_loss": metrics["val_mse"], "model": weights(model)}
        metrics.update(best_epoch=best["epoch"], epoch_seconds=time.perf_counter() - start,
                       jets_per_second=n_train / train_seconds)
        history.append(metrics)
        last_checkpoint = training_checkpoint(config, epoch + 1, model, optimizer, shuffle, None, best, history)
        if report is not None:
            report(dict(metrics), last_checkpoint)

    model.load_state_dict(best["model"])
    return DistillResult(config, model, best["epoch"], best["val_loss"], history, last_checkpoint)
