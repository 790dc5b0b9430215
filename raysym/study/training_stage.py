"""Stage 1: every training trial of a study as one ``tune.Tuner`` run.

A grid study is ``grid_search`` over (bias, seed); a search study samples lr × λ with ASHA. Trials ask
for ``tune.with_resources`` (CPUs, possibly fractional GPUs), report every epoch with a checkpoint,
survive failures (``tune.FailureConfig``), and write to ``storage_path`` — a local folder by default,
any pyarrow URI (s3://, an NFS path) on clusters. Rerunning a study restores the Tuner from storage, so
finished trials are not trained again and unfinished ones resume from their last checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ray import tune

from raysym.study.config import Bias, StudyConfig
from raysym.study.trainable import train_trial

#: Metric and direction Tune uses to rank trials and for ASHA: the validation objective (Glowacki §3.3).
METRIC, MODE = "val_loss", "min"


def storage_location(config: StudyConfig, out_dir: str | os.PathLike) -> str:
    """The Tune storage path: the configured URI/path, else ``<out>/tune`` (absolute, as Tune wants)."""
    if config.storage_path:
        return config.storage_path if "://" in config.storage_path else str(Path(config.storage_path).resolve())
    return str((Path(out_dir) / "tune").resolve())


def _device(config: StudyConfig) -> str:
    return "cuda" if config.resources.gpus_per_trial > 0 else "cpu"


#: Key of the settings shared by every trial of a search study.
SEARCH = "search"


def trial_settings(config: StudyConfig) -> dict[str, dict[str, Any]]:
    """TrainConfig fields of every grid trial by trial id (or of the search's base trial)."""
    if config.search is None:
        return {config.trial_id(b, s): config.train_settings(b, s, _device(config))
                for b in config.biases for s in config.seeds}
    search = config.search
    return {SEARCH: config.train_settings(Bias(search.model, search.penalty, search.lam_range[0]),
                                          config.seeds[0], _device(config))}


def param_space(config: StudyConfig, marker_dir: str) -> dict[str, Any]:
    """Tune's parameter space: a grid over readable trial ids, or the lr × λ search distributions."""
    space: dict[str, Any] = {"threads": max(1, int(config.resources.cpus_per_trial))}
    if config.fail_once_at_epoch is not None:
        space.update(fail_once_at_epoch=config.fail_once_at_epoch, marker_dir=marker_dir)
    if config.search is None:
        return {"trial_id": tune.grid_search(list(trial_settings(config))), **space}
    return {"lr": tune.loguniform(*config.search.lr_range), "lam": tune.loguniform(*config.search.lam_range), **space}


def run_trial(config: dict[str, Any], data: dict[str, Any], settings: dict[str, dict[str, Any]]) -> None:
    """Tune's entry point: look up the trial's training settings, then the plain trial function."""
    train_trial({**config, "train": settings[config.get("trial_id", SEARCH)]}, data)


def trainable(config: StudyConfig, data: dict[str, Any]):
    """The trainable with its jets (and settings) in the object store and its resources declared."""
    resources = {"cpu": config.resources.cpus_per_trial, "gpu": config.resources.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(run_trial, data=data, settings=trial_settings(config)), resources)


def build_tuner(config: StudyConfig, data: dict[str, Any], out_dir: str | os.PathLike, verbose: int = 1) -> tune.Tuner:
    """A new Tuner for the study, or the restored one if this study already ran into the same storage."""
    # A checkpoint per epoch is deliberate (exact resume); on short CPU epochs Tune warns about it.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    storage = storage_location(config, out_dir)
    experiment = os.path.join(storage, config.name) if "://" not in storage else f"{storage.rstrip('/')}/{config.name}"
    fn = trainable(config, data)
    space = param_space(config, str(Path(out_dir).resolve() / "fault-markers"))
    if tune.Tuner.can_restore(experiment):
        return tune.Tuner.restore(experiment, trainable=fn, param_space=space, resume_unfinished=True,
                                  resume_errored=True)
    tune_config = tune.TuneConfig(metric=METRIC, mode=MODE)
    if config.search is not None:
        from ray.tune.schedulers import ASHAScheduler

        tune_config = tune.TuneConfig(
            metric=METRIC, mode=MODE, num_samples=config.search.num_samples,
            scheduler=ASHAScheduler(time_attr="epoch", max_t=config.epochs, grace_period=config.search.grace_period,
                                    reduction_factor=config.search.reduction_factor),
        )
    run_config = tune.RunConfig(
        name=config.name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=config.max_failures),
        # The latest two (the latest holds the best weights too); two, not one, so Tune need not snapshot
        # its experiment state after every epoch of every trial.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        verbose=verbose,
    )
    return tune.Tuner(fn, param_space=space, tune_config=tune_config, run_config=run_config)
