"""From finished Tune trials to the result store: best-model files, ``trials`` and ``epochs`` rows.

Rows come from each trial's last checkpoint, whose history holds every epoch exactly once — also for a
trial that failed and resumed, where Tune saw some epochs reported twice — so the store never holds
duplicated epochs. ``trials`` is written last: a trial row means its model file and epochs are there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from raysym.models.registry import count_parameters
from raysym.store import ResultStore
from raysym.study.config import Bias, StudyConfig
from raysym.study.trainable import CHECKPOINT_FILE
from raysym.training.checkpoint import load_checkpoint, save_best_model
from raysym.training.config import TrainConfig
from raysym.training.run import build_run_model

log = logging.getLogger(__name__)


def trial_keys(study: str, trial_id: str, config: TrainConfig) -> dict[str, Any]:
    """The columns that identify a trial in every table (``raysym.store.TRIAL_KEYS``)."""
    bias = Bias(config.model, config.penalty, config.lam, config.penalty_options)
    return {"study": study, "trial_id": trial_id, "bias": bias.name, "model": config.model,
            "penalty": config.penalty, "lam": float(config.lam), "seed": int(config.seed)}


def store_trial(store: ResultStore, study: StudyConfig, trial_id: str, checkpoint: dict[str, Any],
                models_dir: str | os.PathLike) -> dict[str, Any]:
    """Write one finished trial: its best-model file, its epochs, then its trials row."""
    config = TrainConfig.from_dict({**checkpoint["config"], "device": "cpu"})
    keys = trial_keys(study.name, trial_id, config)
    model_path = save_best_model(checkpoint, Path(models_dir) / f"{trial_id}.pt")
    epochs = [{**keys, **{k: v for k, v in row.items() if k != "trial_key"}} for row in checkpoint["history"]]
    store.write("epochs", epochs, key=trial_id)
    row = {
        **keys,
        "n_parameters": count_parameters(build_run_model(config)),
        "best_epoch": int(checkpoint["best"]["epoch"]),
        "best_val_loss": float(checkpoint["best"]["val_loss"]),
        "epochs": int(checkpoint["epoch"]),
        "checkpoint_path": str(model_path.resolve()),
        "model_preset": config.model_preset,
        "task": config.task,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
        "stopped_early": int(checkpoint["epoch"]) < config.epochs,
    }
    store.write("trials", [row], key=trial_id)
    return row


def collect_results(results, store: ResultStore, study: StudyConfig, models_dir: str | os.PathLike,
                    skip: set[str] = frozenset()) -> tuple[list[dict[str, Any]], list[str]]:
    """Store every successful trial of a Tune ``ResultGrid`` not in ``skip`` (already stored trial ids);
    return (the new trial rows, error messages)."""
    rows, errors = [], []
    for result in results:
        if result.checkpoint is None:
            errors.append(f"{result.path}: no checkpoint ({result.error or 'no epoch finished'})")
            continue
        if result.error is not None:
            errors.append(f"{result.path}: {result.error}")
            continue
        trial_id = (result.metrics or {}).get("trial_key") or f"search-{os.path.basename(result.path)}"
        if trial_id in skip:
            continue
        with result.checkpoint.as_directory() as directory:
            checkpoint = load_checkpoint(os.path.join(directory, CHECKPOINT_FILE))
        rows.append(store_trial(store, study, trial_id, checkpoint, models_dir))
    for message in errors:
        log.error("trial failed: %s", message)
    return rows, errors
