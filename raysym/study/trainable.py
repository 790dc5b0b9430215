"""The Tune trainable: a thin layer that runs ``raysym.training.train`` inside a trial.

It restores from ``tune.get_checkpoint()`` (after a failure or a resumed study), reports every epoch
with ``tune.report(metrics, checkpoint=tune.Checkpoint)``, and takes the jets from Ray's object store
(``tune.with_parameters``), so they are shipped once, not re-read per trial.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from raysym.training import TrainConfig, train
from raysym.training.checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_FILE = "checkpoint.pt"


class InjectedFailure(RuntimeError):
    """Raised once by the fault-injection test hook; Tune's FailureConfig retries the trial."""


def _fail_once(marker_dir: str, trial_id: str, epoch: int) -> None:
    """Raise the first time a trial reaches the hook epoch; a marker file remembers it across retries."""
    marker = Path(marker_dir) / f"failed-once-{trial_id}"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        raise InjectedFailure(f"test hook: trial {trial_id} fails once after epoch {epoch}")


def train_trial(config: dict[str, Any], data: dict[str, Any]) -> None:
    """One trial. ``config`` holds ``train`` (TrainConfig fields), ``trial_id``, ``threads`` and
    optionally ``fail_once_at_epoch`` + ``marker_dir`` (test hook); search trials add ``lr``/``lam``."""
    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    settings = dict(config["train"])
    for key in ("lr", "lam"):  # sampled by a search space
        if key in config:
            settings[key] = float(config[key])
    train_config = TrainConfig(**settings)
    trial_id = config.get("trial_id") or f"search-{tune.get_context().get_trial_id()}"

    resume = None
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as directory:
            resume = load_checkpoint(os.path.join(directory, CHECKPOINT_FILE))

    def report(metrics: dict[str, float], checkpoint: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(checkpoint, os.path.join(directory, CHECKPOINT_FILE))
            tune.report({**metrics, "trial_key": trial_id}, checkpoint=tune.Checkpoint.from_directory(directory))
        if config.get("fail_once_at_epoch") == metrics["epoch"]:
            _fail_once(config["marker_dir"], trial_id, metrics["epoch"])

    train(train_config, data, checkpoint=resume, report=report)
