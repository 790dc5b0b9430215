"""Stage 1 of a study: every training trial as one ``tune.Tuner`` run, finished trials into the store.

A grid study is ``grid_search`` over its trials (bias × seed), each with its readable id and its
hyperparameters (so TensorBoard's HParams and Tune's data frames show them), mapped to its ``TrainConfig``
by id; a search study samples lr × λ with ASHA. Trials are ranked on the validation BCE, which every bias
shares. Trials ask for ``tune.with_resources`` (CPUs,
possibly fractional GPUs), take their jets from Ray's object store (``tune.with_parameters``), report
every epoch with ``tune.report(metrics, checkpoint=tune.Checkpoint)``, restore from
``tune.get_checkpoint()`` after a failure (``tune.FailureConfig``), and write to ``storage_path`` — a
local folder by default, any pyarrow URI (s3://, an NFS path) on clusters. Rerunning a study restores
the Tuner from storage, so finished trials are not trained again and unfinished ones resume.

The trainable is a thin layer over :func:`raysym.training.train` (the Tune plumbing it shares with the
distillation stage is in :mod:`raysym.stages.tune_trials`). From each finished trial's last checkpoint,
whose history holds every epoch exactly once (also for a trial that failed and resumed, where Tune saw
some epochs twice), the stage writes the best-model file, the ``epochs`` rows and then the ``trials`` row:
a trial row means its model file and epochs are there. Trial ids carry a key of their settings and jets
(:meth:`raysym.study.config.StudyConfig.trials`), so other settings train other trials.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from ray import tune

from raysym.artifacts import exists, join, save_torch
from raysym.errors import ConfigError, positive_int
from raysym.models.registry import count_parameters
from raysym.settings_key import canonical, settings_key
from raysym.stages.checkpoints import CheckpointChoice, epoch_model_path, missing_epochs
from raysym.stages.tune_trials import (
    base_space,
    build_tuner,
    epoch_reporter,
    finished_checkpoints,
    fit,
    grid_space,
    restored_checkpoint,
    trial_id_of,
    trial_point,
)
from raysym.store import ResultStore, row_keys
from raysym.training import TrainConfig, train
from raysym.training.checkpoint import epoch_model, load_best_model, save_best_model

log = logging.getLogger(__name__)

#: Metric and direction Tune uses to rank trials and for ASHA: the validation BCE. The validation objective
#: (BCE + λ·penalty, Glowacki §3.3) picks each trial's own best epoch, but it measures a different
#: objective for every penalty and λ, so trials of different biases are compared on the BCE they share.
METRIC, MODE = "val_bce", "min"
#: The trial id of a search study's base settings (its trials are named by Tune).
SEARCH = "search"


@dataclass(frozen=True)
class SearchSpace:
    """A Tune hyperparameter search instead of a grid: learning rate × λ, with ASHA early stopping.

    Trials sample lr and λ log-uniformly for ``penalty`` on ``model``; ASHA stops the worse ones after
    ``grace_period`` epochs. Every trial still lands in the store like a grid trial.
    """

    num_samples: int = 8
    model: str = "teacher"
    penalty: str = "seal"
    lr_range: tuple[float, float] = (1e-4, 1e-2)
    lam_range: tuple[float, float] = (1e-3, 1.0)
    grace_period: int = 2
    reduction_factor: int = 2

    def __post_init__(self) -> None:
        for name, (low, high) in (("lr_range", self.lr_range), ("lam_range", self.lam_range)):
            if not (0 < low < high and math.isfinite(high)):
                raise ConfigError(f"search {name} must be 0 < low < high, got ({low}, {high})")
        if self.num_samples < 1 or self.grace_period < 1 or self.reduction_factor < 2:
            raise ConfigError("search needs num_samples >= 1, grace_period >= 1 and reduction_factor >= 2")


def custom_resources(resources) -> tuple[tuple[str, float], ...]:
    """Custom Ray resources as sorted (name, amount) pairs; CPU and GPU have their own settings, and an
    amount must be a positive number."""
    pairs = resources.items() if isinstance(resources, Mapping) else resources
    try:
        pairs = sorted((name, float(amount)) for name, amount in pairs)
    except (TypeError, ValueError):
        raise ConfigError(f"trial resources must be name -> amount pairs, got {resources!r}") from None
    for name, amount in pairs:
        if not isinstance(name, str) or not name or name.upper() in ("CPU", "GPU", "MEMORY"):
            raise ConfigError(f"trial resource name {name!r} must be a custom resource's name "
                              "(CPUs and GPUs have their own settings)")
        if not (amount > 0 and math.isfinite(amount)):
            raise ConfigError(f"trial resource {name} must ask for an amount > 0, got {amount}")
    return tuple(pairs)


#: How far n · (GPUs per trial) may be from 1 and still count as 1/n: Ray keeps resource amounts to four
#: decimals, so 0.3333 is a third of a GPU.
_SHARE_TOLERANCE = 1e-3


def check_gpu_share(gpus: float) -> None:
    """GPUs per trial must be 0, a whole number, or 1/n (n trials per GPU); else a ``ConfigError`` that says
    which share was probably meant."""
    if gpus == 0 or (gpus >= 1 and float(gpus).is_integer()):
        return
    if gpus > 1:
        raise ConfigError(f"GPUs per trial must be a whole number above 1 (Ray shares at most one GPU between "
                          f"trials), got {gpus:g}")
    n = round(1 / gpus)
    if abs(n * gpus - 1) > _SHARE_TOLERANCE:
        raise ConfigError(f"GPUs per trial below 1 must be 1/n, so that n trials fill a GPU: got {gpus:g}; "
                          f"use e.g. {1 / n:.4g} ({n} per GPU) or {1 / (n + 1):.4g} ({n + 1} per GPU)")


@dataclass(frozen=True)
class TrainingSettings:
    """How the training stage runs its trials: resources, retries, where Tune stores them, grid or search.

    ``cpus_per_trial`` is also the trial's torch thread count; ``gpus_per_trial`` puts the trial on CUDA
    and is 0, a whole number of GPUs, or 1/n of one: n trials then share each GPU (Ray packs them, each
    in its own process with its own copy of the jets on the GPU), which pays when one trial's small
    kernels leave the GPU mostly idle. Ray refuses fractions above 1, and a fraction that is not 1/n
    leaves part of every GPU unused. :meth:`trials_per_node` is the packing this gives on a node.
    ``trial_resources`` are custom Ray resources every trial also asks for, as (name, amount) pairs (a
    mapping is accepted): they pin trials to the node types that advertise them, say the GPU workers of a
    cluster, or a stand-in for GPUs on a simulated one. ``fail_once_at_epoch`` is a test hook: every trial
    raises once after reporting that epoch, and ``FailureConfig`` must bring it back.
    """

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    storage_path: str | None = None
    search: SearchSpace | None = None
    fail_once_at_epoch: int | None = None
    trial_resources: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "trial_resources", custom_resources(self.trial_resources))
        if not (self.cpus_per_trial > 0 and math.isfinite(self.cpus_per_trial)):
            raise ConfigError(f"cpus per trial must be > 0, got {self.cpus_per_trial}")
        if not (self.gpus_per_trial >= 0 and math.isfinite(self.gpus_per_trial)):
            raise ConfigError(f"GPUs per trial must be >= 0, got {self.gpus_per_trial}")
        check_gpu_share(self.gpus_per_trial)
        if isinstance(self.max_failures, bool) or not isinstance(self.max_failures, int) or self.max_failures < 0:
            raise ConfigError(f"max_failures must be an integer >= 0, got {self.max_failures!r}")
        if self.fail_once_at_epoch is not None:
            positive_int("fail_once_at_epoch", self.fail_once_at_epoch)
        if self.search is not None and not isinstance(self.search, SearchSpace):
            raise ConfigError(f"a training search must be a SearchSpace, got {type(self.search).__name__}")

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_trial > 0 else "cpu"

    def trials_per_node(self, cpus: float, gpus: float = 0.0) -> int:
        """How many trials run at once on a node of ``cpus`` CPUs and ``gpus`` GPUs: the scarcer of the two
        decides (a cost projection and the paper preset's packing test use it)."""
        fits = [math.floor(cpus / self.cpus_per_trial + _SHARE_TOLERANCE)]
        if self.gpus_per_trial > 0:
            fits.append(math.floor(gpus / self.gpus_per_trial + _SHARE_TOLERANCE))
        return max(0, min(fits))

    def check(self, recipe: TrainConfig) -> None:
        """Settings that must agree with the recipe: ASHA cannot wait longer than the training runs."""
        if self.search is not None and self.search.grace_period > recipe.epochs:
            raise ConfigError(f"search grace period {self.search.grace_period} exceeds the {recipe.epochs} epochs")


# -- the trainable and the Tuner ----------------------------------------------------------------------


def train_trial(config: dict[str, Any], data: dict[str, Any], trials: Mapping[str, TrainConfig]) -> None:
    """One Tune trial: look up its ``TrainConfig``, resume from Tune's checkpoint, report every epoch.

    ``config`` is the trial's point of Tune's parameter space: ``trial`` (its id and hyperparameters, for a
    grid) or ``lr``/``lam`` (search), ``threads``, and the test hook's ``fail_once_at_epoch`` + ``marker_dir``.
    """
    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    train_config = trials[trial_point(config).get("trial_id", SEARCH)]
    sampled = {key: float(config[key]) for key in ("lr", "lam") if key in config}
    if sampled:
        train_config = dataclasses.replace(train_config, **sampled)
    trial_id = trial_id_of(config, tune.get_context().get_trial_id())
    report = epoch_reporter(config, trial_id)
    if config.get("keep_every"):
        report = keeping_epochs(report, CheckpointChoice(config["keep_every"]), config["models_dir"], trial_id)
    train(train_config, data, checkpoint=restored_checkpoint(report), report=report)


def keeping_epochs(report, keep: CheckpointChoice, models_dir: str, trial_id: str):
    """``report`` that first writes the weights of the epochs ``keep`` keeps for analysis
    (:func:`raysym.training.checkpoint.epoch_model`), at the study's output location so any node reads
    them. Written before the epoch is reported, so a reported epoch's weights are always there; a trial
    that resumes writes the same file again."""
    def report_and_keep(metrics: dict[str, float], checkpoint: dict[str, Any]) -> None:
        if keep.keeps(checkpoint["epoch"]):
            save_torch(epoch_model(checkpoint), epoch_model_path(models_dir, trial_id, checkpoint["epoch"]))
        report(metrics, checkpoint)

    return report_and_keep


def hyperparameters(trial_id: str, config: TrainConfig) -> dict[str, Any]:
    """What a trial compares, as Tune's config shows it to its loggers and data frames: a readable ``name``
    (the id without its key), the settings ``key`` (the id's last part, of everything that changes the
    trial), and the recipe's settings."""
    name, _, key = trial_id.rpartition("-")
    return {"name": name, "key": key, "bias": config.bias.name, "model": config.model,
            "model_preset": config.model_preset, "penalty": config.penalty, "lam": config.lam,
            "seed": config.seed, "lr": config.lr, "weight_decay": config.weight_decay, "epochs": config.epochs,
            "batch_size": config.batch_size, "task": config.task, "precision": config.precision}


def param_space(trials: Mapping[str, TrainConfig], settings: TrainingSettings, out_dir: str | os.PathLike,
                keep: CheckpointChoice = CheckpointChoice()) -> dict[str, Any]:
    """Tune's parameter space: a grid over readable trial ids with each trial's hyperparameters, or the
    lr × λ search distributions beside the base's fixed settings; and which epochs' weights to keep for
    analysis (``keep``)."""
    space = base_space(settings, out_dir)
    if keep.every is not None:
        space.update(keep_every=keep.every, models_dir=join(out_dir, "models"))
    if settings.search is None:
        return grid_space({trial_id: hyperparameters(trial_id, config) for trial_id, config in trials.items()},
                          space)
    search = settings.search
    fixed = {k: v for k, v in hyperparameters(SEARCH, trials[SEARCH]).items() if k not in ("name", "key", "lr", "lam")}
    # The fixed settings as a one-point grid dimension: Tune's TensorBoard logger shows searched dimensions only.
    return {"lr": tune.loguniform(*search.lr_range), "lam": tune.loguniform(*search.lam_range),
            "trial": tune.grid_search([fixed]), **space}


def training_tuner(name: str, trials: Mapping[str, TrainConfig], settings: TrainingSettings, data: dict[str, Any],
                   out_dir: str | os.PathLike, verbose: int = 1,
                   keep: CheckpointChoice = CheckpointChoice(), callbacks: Sequence[tune.Callback] = ()) -> tune.Tuner:
    """The Tuner of experiment ``name`` over ``trials`` (a search has one entry, :data:`SEARCH`, its base):
    a grid, or ASHA over the lr × λ search, ranked by the validation objective."""
    tune_config = tune.TuneConfig(metric=METRIC, mode=MODE)
    if settings.search is not None:
        from ray.tune.schedulers import ASHAScheduler

        search = settings.search
        tune_config = tune.TuneConfig(
            metric=METRIC, mode=MODE, num_samples=search.num_samples,
            scheduler=ASHAScheduler(time_attr="epoch", max_t=trials[SEARCH].epochs, grace_period=search.grace_period,
                                    reduction_factor=search.reduction_factor),
        )
    return build_tuner(name, train_trial, param_space(trials, settings, out_dir, keep), settings, out_dir,
                       tune_config=tune_config, verbose=verbose, callbacks=callbacks, data=data, trials=dict(trials))


# -- into the store ----------------------------------------------------------------------------------


def trial_keys(study: str, trial_id: str, config: TrainConfig) -> dict[str, Any]:
    """The columns that identify a trial in every table (``raysym.store.TRIAL_KEYS``, plus the bias name)."""
    return {"study": study, "trial_id": trial_id, "bias": config.bias.name, "model": config.model,
            "penalty": config.penalty, "lam": float(config.lam), "seed": int(config.seed)}


def store_kept_epochs(store: ResultStore, keys: dict[str, Any], checkpoint: dict[str, Any], models_dir: str,
                      keep: CheckpointChoice) -> int:
    """The ``checkpoints`` rows of a finished trial whose run kept every K-th epoch's weights (written by
    the trial itself, :func:`keeping_epochs`); returns how many. Only epochs whose file is there get a row:
    a trial that began under other settings (a run started with "best", interrupted, and resumed with
    "every:K") kept none before it resumed, and :func:`keep_missing_epochs` then runs it again for them."""
    trial_id = keys["trial_id"]
    val_loss = {int(row["epoch"]): float(row["val_loss"]) for row in checkpoint["history"]}
    rows = []
    for epoch in keep.epochs(int(checkpoint["epoch"])):
        path = epoch_model_path(models_dir, trial_id, epoch)
        if exists(path):
            rows.append({**keys, "epoch": epoch, "model_path": path, "val_loss": val_loss[epoch],
                         "keep_every": keep.every})
    if rows:
        store.write("checkpoints", rows, key=f"{trial_id}-every{keep.every}")
    return len(rows)


def store_trial(store: ResultStore, study: str, trial_id: str, checkpoint: dict[str, Any],
                models_dir: str | os.PathLike, *, data_key: str, experiment: str,
                keep: CheckpointChoice = CheckpointChoice()) -> dict[str, Any]:
    """Write one finished trial: its best-model file, its epochs, its kept epochs, then its trials row.

    The row carries the trial's settings key (of its own config, so a search trial's sampled lr and λ
    count), the key of its jets and the Tune experiment that trained it.
    """
    config = TrainConfig.from_dict({**checkpoint["config"], "device": "cpu"})
    keys = trial_keys(study, trial_id, config)
    model_path = save_best_model(checkpoint, join(models_dir, f"{trial_id}.pt"))
    store.write("epochs", [{**keys, **row} for row in checkpoint["history"]], key=trial_id)
    store_kept_epochs(store, keys, checkpoint, models_dir, keep)
    row = {
        **keys,
        "n_parameters": count_parameters(config.build_model()),
        "best_epoch": int(checkpoint["best"]["epoch"]),
        "best_val_loss": float(checkpoint["best"]["val_loss"]),
        "epochs": int(checkpoint["epoch"]),
        "model_path": model_path,
        "model_preset": config.model_preset,
        "task": config.task,
        "lr": config.lr,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
        "stopped_early": int(checkpoint["epoch"]) < config.epochs,
        "settings_key": config.settings_key(data_key),
        "data_key": data_key,
        "experiment": experiment,
    }
    store.write("trials", [row], key=trial_id)
    return row


def collect_results(results, store: ResultStore, study: str, models_dir: str | os.PathLike, *, data_key: str,
                    experiment: str, skip: set[str] = frozenset(),
                    keep: CheckpointChoice = CheckpointChoice()) -> tuple[list[dict[str, Any]], list[str]]:
    """Store every successful trial of a Tune ``ResultGrid`` not in ``skip`` (already stored trial ids);
    return (the new trial rows, error messages)."""
    finished, errors = finished_checkpoints(results, skip)
    rows = [store_trial(store, study, trial_id, checkpoint, models_dir, data_key=data_key, experiment=experiment,
                        keep=keep)
            for trial_id, checkpoint in finished]
    for message in errors:
        log.error("trial failed: %s", message)
    return rows, errors


def experiment_name(name: str, trials: Mapping[str, TrainConfig], settings: TrainingSettings, data_key: str) -> str:
    """The Tune experiment of a run of study ``name``: named by what it trains, so a rerun with the same
    trials restores it and a rerun with other settings never restores a run of other trials.

    A grid run is keyed by its trial ids (which carry their settings keys); a search by its base trial's
    key, the search space and the metric ASHA stops trials by (which decides what a search trains: searches
    ranked by the validation objective, before :data:`METRIC` was the BCE, are other experiments).
    """
    if settings.search is None:
        return f"{name}-{settings_key(*sorted(trials))}"
    ranked = {"metric": METRIC, "mode": MODE}
    return f"{name}-search-{settings_key(trials[SEARCH].settings_key(data_key), canonical(settings.search), ranked)}"


def run_training_stage(store: ResultStore, name: str, trials: Mapping[str, TrainConfig], settings: TrainingSettings,
                       data: dict[str, Any], out_dir: str | os.PathLike, *, data_key: str,
                       verbose: int = 1, keep: CheckpointChoice = CheckpointChoice(),
                       callbacks: Sequence[tune.Callback] = ()) -> tuple[list[dict[str, Any]], list[str]]:
    """Train every trial of study ``name`` not yet in the store; return (new trial rows, failed trials).

    A grid run trains only the trials the store lacks, and starts no Tuner when it lacks none; trials
    made with other settings have other ids and stay in the store untouched. ``keep`` says which epochs'
    weights the trials keep for analysis (:mod:`raysym.stages.checkpoints`); trials stored without them
    get them from :func:`keep_missing_epochs`.
    """
    stored = set(store.keys("trials"))
    if settings.search is None:
        trials = {trial_id: config for trial_id, config in trials.items() if trial_id not in stored}
        if not trials:
            log.info("every trial of %s is in the store; no training", name)
            return [], []
    experiment = experiment_name(name, trials, settings, data_key)
    results = fit(training_tuner(experiment, trials, settings, data, out_dir, verbose=verbose, keep=keep,
                                 callbacks=callbacks), "training")
    return collect_results(results, store, name, join(out_dir, "models"), data_key=data_key, experiment=experiment,
                           skip=stored, keep=keep)


def keep_missing_epochs(store: ResultStore, name: str, trials, settings: TrainingSettings, data: dict[str, Any],
                        out_dir: str | os.PathLike, keep: CheckpointChoice, *, verbose: int = 1,
                        callbacks: Sequence[tune.Callback] = ()) -> list[str]:
    """Kept weights for stored trials (a ``trials`` frame) that were trained before ``keep`` asked for
    them: those trials run again, from their own settings (read from their model files, so sampled
    search trials too), in a Tune experiment of their own that only keeps epochs; their stored rows and
    best models stay as they are. Returns error messages of trials that failed.

    Training is deterministic by seed on the CPU, so a rerun retraces the same trajectory bitwise; a rerun
    whose best validation loss differs from the stored one (a GPU's nondeterministic kernels) is logged:
    its kept epochs then come from a retrained run, not from the stored model's own path.
    """
    if keep.every is None or trials.empty:
        return []
    lacking = missing_epochs(trials, store.load("checkpoints"), keep)
    if not lacking:
        return []
    rows = trials[trials["trial_id"].isin(list(lacking))]
    configs = {row["trial_id"]: load_best_model(row["model_path"], device=settings.device)[1]
               for _, row in rows.iterrows()}
    stored_loss = dict(zip(rows["trial_id"], rows["best_val_loss"]))
    experiment = f"{name}-keep-every{keep.every}-{settings_key(*sorted(configs))}"
    log.info("rerunning %d stored trial(s) to keep every %d-th epoch", len(configs), keep.every)
    replay = dataclasses.replace(settings, search=None)
    results = fit(training_tuner(experiment, configs, replay, data, out_dir, verbose=verbose, keep=keep,
                                 callbacks=callbacks), "training")
    finished, errors = finished_checkpoints(results)
    for trial_id, checkpoint in finished:
        if float(checkpoint["best"]["val_loss"]) != float(stored_loss[trial_id]):
            log.warning("trial %s rerun for its kept epochs reached best val_loss %.6g, not the stored %.6g: its "
                        "kept epochs come from a retrained run", trial_id, checkpoint["best"]["val_loss"],
                        stored_loss[trial_id])
        row = rows[rows["trial_id"] == trial_id].iloc[0]
        store_kept_epochs(store, row_keys(row), checkpoint, join(out_dir, "models"), keep)
    return errors
