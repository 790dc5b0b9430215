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
