"""Training checkpoints: one dict with the weights, optimiser, RNG states and the config that built them.

Like nanoGPT's single checkpoint dict, everything needed to resume or to rebuild the model sits in one
place. Files are written to a temporary name and renamed, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from raysym.errors import DataError

CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = ("format", "config", "epoch", "model", "optimizer", "rng", "best", "history")


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``checkpoint`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a bad file is a ``DataError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise DataError(f"checkpoint {path} cannot be read: {err}") from err
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint]
    if missing:
        raise DataError(f"checkpoint {path} is not a raysym training checkpoint (missing {', '.join(missing)})")
    return checkpoint


BEST_MODEL_KEYS = ("format", "config", "best_epoch", "val_loss", "model")


def best_model(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The lowest-validation-loss weights of a training checkpoint, with the config that built them.

    This small dict is what later stages (evaluation, Hessian, smearing, distillation) load: they need
    the model, not the optimiser or random states.
    """
    best = checkpoint["best"]
    if best.get("model") is None:
        raise DataError("the training checkpoint holds no best weights yet (no epoch finished)")
    return {"format": CHECKPOINT_FORMAT, "config": checkpoint["config"], "best_epoch": best["epoch"],
            "val_loss": best["val_loss"], "model": best["model"]}


def save_best_model(checkpoint: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write :func:`best_model` of ``checkpoint`` to ``path`` atomically."""
    return save_checkpoint(best_model(checkpoint), path)


def load_best_model(path: str | os.PathLike, device: str = "cpu"):
    """(model in eval mode holding the best weights, its TrainConfig, the file's dict) from ``path``."""
    from raysym.training.config import TrainConfig
    from raysym.training.run import build_run_model

    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file {path} does not exist")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise DataError(f"model file {path} cannot be read: {err}") from err
    missing = [k for k in BEST_MODEL_KEYS if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise DataError(f"model file {path} is not a raysym best-model file (missing {', '.join(missing)})")
    config = TrainConfig.from_dict({**saved["config"], "device": device})
    model = build_run_model(config)
    model.load_state_dict(saved["model"])
    return model.eval(), config, saved
