"""The training checkpoint format, whole: what a checkpoint holds, how it is made, restored, saved and read.

Like nanoGPT's single checkpoint dict, everything needed to resume or to rebuild the model sits in one
place: the weights, Adam's state, every random stream (global torch, batch shuffling, penalty
transformations), the best weights so far, the history and the config. The best-model file is the small
part of it later stages load. Files are written to a temporary name and renamed, so a crash never
leaves half a checkpoint.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import torch

from raysym.artifacts import load_torch, normalise, save_torch
from raysym.errors import ConfigError, DataError
from raysym.training.config import settings_from_dict

CHECKPOINT_FORMAT = 1
CHECKPOINT_KEYS = ("format", "config", "epoch", "model", "optimizer", "rng", "best", "history")
BEST_MODEL_KEYS = ("format", "config", "best_epoch", "model")
#: The numbers a best record (and a best-model file) may be chosen by: a teacher's validation loss, a
#: student's validation MSE. Each is stored under its own name.
SELECTIONS = ("val_loss", "val_mse")


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's state, detached from training."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def no_best(selection: str = "val_loss") -> dict[str, Any]:
    """The best-so-far record before any epoch finished, for weights chosen by ``selection``."""
    return {"epoch": -1, selection: float("inf"), "model": None}


def best_value(best: dict[str, Any]) -> tuple[str, float]:
    """(name, value) of the number a best record (or best-model file) was chosen by."""
    for name in SELECTIONS:
        if name in best:
            return name, float(best[name])
    raise DataError(f"a best record without its selection number (one of {', '.join(SELECTIONS)})")


def training_checkpoint(config, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        shuffle: torch.Generator, penalty_generator: torch.Generator | None,
                        best: dict[str, Any], history: list[dict[str, float]]) -> dict[str, Any]:
    """The checkpoint after ``epoch`` epochs: enough to resume bitwise and to rebuild the best model.

    ``config`` is the run's settings (a ``TrainConfig``, or a ``DistillConfig`` for a student): anything
    with ``to_dict``, ``from_dict`` and ``same_run``.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "settings": config.KIND,
        "epoch": epoch,
        "model": weights(model),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "rng": {
            "torch": torch.get_rng_state(),
            "shuffle": shuffle.get_state(),
            "penalty": None if penalty_generator is None else penalty_generator.get_state(),
        },
        "best": best,
        "history": list(history),
    }


def restore(checkpoint: dict[str, Any], config, model: torch.nn.Module,
            optimizer: torch.optim.Optimizer, shuffle: torch.Generator,
            penalty_generator: torch.Generator | None) -> tuple[int, dict[str, Any], list[dict[str, float]]]:
    """Put a run back where ``checkpoint`` left it; return (epochs done, best record, history).

    The weights, Adam's moments and every random stream are set in place; a checkpoint of another run
    configuration (other than its device) is refused.
    """
    if not type(config).from_dict(checkpoint["config"]).same_run(config):
        raise ConfigError("the checkpoint belongs to a different run configuration; refusing to resume")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    torch.set_rng_state(checkpoint["rng"]["torch"])
    shuffle.set_state(checkpoint["rng"]["shuffle"])
    if penalty_generator is not None and checkpoint["rng"].get("penalty") is not None:
        penalty_generator.set_state(checkpoint["rng"]["penalty"])
    return checkpoint["epoch"], copy.deepcopy(checkpoint["best"]), list(checkpoint["history"])


def save_checkpoint(checkpoint: dict[str, Any], location: str | os.PathLike) -> str:
    """Write ``checkpoint`` to ``location`` (a local path or a URI, :mod:`raysym.artifacts`) atomically;
    return the location."""
    return save_torch(checkpoint, location)


def _read(location: str | os.PathLike, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """The dict at ``location``, checked for ``keys``; a missing, unreadable or foreign file is a ``DataError``."""
    path = normalise(location)
    saved = load_torch(path, what)
    missing = [k for k in keys if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise DataError(f"{what} {path} is not a raysym {what} (missing {', '.join(missing)})")
    return saved


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a bad file is a ``DataError`` naming it."""
    return _read(path, "training checkpoint", CHECKPOINT_KEYS)


def best_model(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The best weights of a training checkpoint, with the run's settings and their kind, which rebuild them.

    This small dict is what the evaluation and analysis stages load: they need the model, not the
    optimiser or random states.
    """
    best = checkpoint["best"]
    if best.get("model") is None:
        raise DataError("the training checkpoint holds no best weights yet (no epoch finished)")
    name, value = best_value(best)
    return {"format": CHECKPOINT_FORMAT, "config": checkpoint["config"],
            "settings": checkpoint.get("settings", "training"), "best_epoch": best["epoch"], name: value,
            "model": best["model"]}


def epoch_model(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The weights of a training checkpoint's own epoch, in the best-model file format (``best_epoch`` is
    that epoch), so that an analysis loads a kept epoch exactly as it loads a best model
    (:func:`load_best_model`). Weights only: no optimiser or random state, a fraction of the checkpoint."""
    history = checkpoint["history"]
    return {"format": CHECKPOINT_FORMAT, "config": checkpoint["config"],
            "settings": checkpoint.get("settings", "training"), "best_epoch": checkpoint["epoch"],
            "val_loss": history[-1]["val_loss"] if history else float("nan"), "model": checkpoint["model"]}


def save_best_model(checkpoint: dict[str, Any], location: str | os.PathLike) -> str:
    """Write :func:`best_model` of ``checkpoint`` to ``location`` atomically; return the location."""
    return save_checkpoint(best_model(checkpoint), location)


def load_best_model(location: str | os.PathLike, device: str = "cpu"):
    """(model in eval mode holding the best weights, its run's settings — a teacher's ``TrainConfig``, a
    student's ``DistillConfig`` — and the file's dict) from ``location``."""
    saved = _read(location, "best-model file", BEST_MODEL_KEYS)
    try:
        best_value(saved)
    except DataError:
        raise DataError(f"best-model file {normalise(location)} is not a raysym best-model file (missing "
                        f"{' or '.join(SELECTIONS)})") from None
    config = settings_from_dict({**saved["config"], "device": device}, saved.get("settings", "training"))
    model = config.build_model()
    model.load_state_dict(saved["model"])
    return model.eval(), config, saved
