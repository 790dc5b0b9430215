"""Which weights of each trial a study analyses: its best model, and with ``analyse_checkpoints="every:K"``
also every K-th epoch of its training (docs/methods.md §6.7).

Glowacki's claim is about trajectories — the soft bias "induces low-curvature trajectories" — while the
paper measures only where they end. Keeping the weights of every K-th epoch lets the evaluation and
analysis stages measure the path itself. The training stage writes those weights (weights only, in the
best-model file format, so every analysis loads them as it loads a best model) and one ``checkpoints``
row per kept epoch; :func:`analysed_models` then lists every model to analyse, one row each with a
``model_id`` that keys its results in the store:

- a trial's best model has ``model_id`` = its trial id, ``best`` True and ``epoch`` its best epoch, so its
  rows have the store keys they had before trajectories existed, and a study that switches between
  ``"best"`` and ``"every:K"`` reuses them;
- a kept epoch other than the best has ``model_id`` = ``<trial id>-e<epoch>`` and ``best`` False (the best
  epoch, when it is also a kept one, is analysed once, as the best model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from raysym.artifacts import join
from raysym.errors import ConfigError, DataError

BEST = "best"
_EVERY = re.compile(r"every:(\d+)")


@dataclass(frozen=True)
class CheckpointChoice:
    """A parsed ``analyse_checkpoints`` setting: ``every`` is K, or None for the best model only."""

    every: int | None = None

    @classmethod
    def parse(cls, spec: str) -> "CheckpointChoice":
        """``"best"`` or ``"every:K"`` (K ≥ 1); anything else is a ``ConfigError`` saying what is accepted."""
        if spec == BEST:
            return cls(None)
        match = _EVERY.fullmatch(spec) if isinstance(spec, str) else None
        if match is None or int(match.group(1)) < 1:
            raise ConfigError(f"analyse_checkpoints must be \"best\" or \"every:K\" with K >= 1 (e.g. \"every:5\"), "
                              f"got {spec!r}")
        return cls(int(match.group(1)))

    def epochs(self, n_epochs: int) -> list[int]:
        """The kept epochs of a run of ``n_epochs`` epochs (numbered from 1): K, 2K, … (none for "best")."""
        return [] if self.every is None else list(range(self.every, n_epochs + 1, self.every))

    def keeps(self, epoch: int) -> bool:
        return self.every is not None and epoch % self.every == 0


def epoch_model_path(models_dir: str, trial_id: str, epoch: int) -> str:
    """Where the training stage keeps a trial's weights after ``epoch`` (beside the best-model files)."""
    return join(models_dir, "epochs", f"{trial_id}-e{epoch}.pt")


def model_id(trial_id: str, epoch: int, best: bool) -> str:
    """The id that keys a model's results in the store (see the module docstring)."""
    return trial_id if best else f"{trial_id}-e{epoch}"


def which_weights(model) -> dict:
    """The ``epoch`` and ``best`` columns of a model's result rows, where known (a plain trials row has no
    ``best``: its rows carry its best epoch and ``best`` True once it comes through :func:`best_models`)."""
    return {k: model[k] for k in ("epoch", "best") if k in model and not pd.isna(model[k])}


def model_key(model, settings_key: str) -> str:
    """The store key of a model's result rows: its ``model_id`` (the trial id for a best model) and the
    settings key — for a best model exactly the key used before trajectories existed."""
    return f"{model.get('model_id', model['trial_id'])}-{settings_key}"


def describe(model) -> str:
    """How an error names a model: ``trial <id>``, and ``at epoch <e>`` for a kept epoch."""
    kept = "best" in model and not pd.isna(model["best"]) and not model["best"]
    return f"trial {model['trial_id']}" + (f" at epoch {model['epoch']}" if kept else "")


def best_models(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials' best models as rows to analyse: the trial rows with ``model_id``, ``epoch``, ``best``."""
    models = trials.copy()
    models["model_id"] = models["trial_id"]
    models["best"] = True
    if "best_epoch" in models:
        models["epoch"] = models["best_epoch"].astype("int64")
    return models.reset_index(drop=True)


def missing_epochs(trials: pd.DataFrame, kept: pd.DataFrame, choice: CheckpointChoice) -> dict[str, list[int]]:
    """Trial id -> the epochs ``choice`` wants analysed that have no kept weights in ``kept`` (the
    ``checkpoints`` table), for every trial with any: they were trained before the setting asked for them."""
    have = set(zip(kept["trial_id"], kept["epoch"])) if len(kept) else set()
    missing = {}
    for _, trial in trials.iterrows():
        lacking = [e for e in choice.epochs(int(trial["epochs"])) if (trial["trial_id"], e) not in have]
        if lacking:
            missing[trial["trial_id"]] = lacking
    return missing


def analysed_models(trials: pd.DataFrame, kept: pd.DataFrame, choice: CheckpointChoice) -> pd.DataFrame:
    """Every model the evaluation and analysis stages work on: each trial's best model, then its kept epochs
    that ``choice`` asks for (not the best epoch again), each with the trial's columns, its ``model_path``,
    ``model_id``, ``epoch`` and ``best``. A wanted epoch without kept weights is a ``DataError`` (the
    training stage keeps them before this is asked)."""
    models = best_models(trials)
    if choice.every is None or trials.empty:
        return models
    lacking = missing_epochs(trials, kept, choice)
    if lacking:
        named = "; ".join(f"{t}: {', '.join(map(str, e))}" for t, e in list(lacking.items())[:3])
        raise DataError(f"no kept weights for epoch(s) of {len(lacking)} trial(s) ({named})")
    paths = {(t, int(e)): p for t, e, p in zip(kept["trial_id"], kept["epoch"], kept["model_path"])}
    rows = []
    for _, trial in trials.iterrows():
        for epoch in choice.epochs(int(trial["epochs"])):
            if epoch == int(trial["best_epoch"]):
                continue
            rows.append({**trial.to_dict(), "model_path": paths[(trial["trial_id"], epoch)],
                         "model_id": model_id(trial["trial_id"], epoch, False), "epoch": epoch, "best": False})
    return pd.concat([models, pd.DataFrame(rows)], ignore_index=True) if rows else models
