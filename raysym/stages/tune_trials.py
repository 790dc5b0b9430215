"""What every Tune stage shares (training teachers, distilling students): one trial per id, a checkpoint
every epoch, resume after a failure, restore of a whole run, and finished trials handed back.

A Tune stage is a plain run function (``train``, ``distill``) that reports ``(metrics, checkpoint)``
after every epoch and can resume from such a checkpoint; this module is the thin layer that makes it a
Tune trial: ``tune.report`` with a ``tune.Checkpoint`` each epoch, ``tune.get_checkpoint()`` on a retry,
``tune.with_resources`` / ``tune.with_parameters`` (data through the object store), ``FailureConfig``
retries, ``RunConfig(storage_path=...)``, and ``Tuner.restore`` of an experiment that already ran.
The run settings are duck-typed: anything with ``cpus_per_trial``, ``gpus_per_trial``, ``max_failures``,
``trial_resources``, ``storage_path`` and the test hook ``fail_once_at_epoch`` (``TrainingSettings``).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tempfile
from typing import Any, Callable, Mapping

import pyarrow.fs as pafs
from ray import tune

from raysym.artifacts import exists, join, normalise, write_bytes
from raysym.training.checkpoint import load_checkpoint, save_checkpoint

CHECKPOINT_FILE = "checkpoint.pt"
Report = Callable[[dict[str, float], dict[str, Any]], None]


class InjectedFailure(RuntimeError):
    """Raised once by the fault-injection test hook; Tune's FailureConfig retries the trial."""


def _fail_once(marker_dir: str, trial_id: str, epoch: int) -> None:
    """Raise the first time a trial reaches the hook epoch; a marker file (at the study's output location,
    so a retry on another node sees it) remembers it across retries."""
    marker = join(marker_dir, f"failed-once-{trial_id}")
    if not exists(marker):
        write_bytes(marker, b"")
        raise InjectedFailure(f"test hook: trial {trial_id} fails once after epoch {epoch}")


def trial_id_of(config: Mapping[str, Any], tune_trial_id: str | None) -> str:
    """A trial's id: the grid point's own id, or ``search-<Tune's trial id>`` for a sampled trial."""
    return config.get("trial_id") or f"search-{tune_trial_id}"


def restored_checkpoint() -> dict[str, Any] | None:
    """The checkpoint dict Tune hands a retried or restored trial, or None for a fresh one."""
    restored = tune.get_checkpoint()
    if restored is None:
        return None
    with restored.as_directory() as directory:
        return load_checkpoint(os.path.join(directory, CHECKPOINT_FILE))


def epoch_reporter(config: Mapping[str, Any], trial_id: str) -> Report:
    """The ``report`` callback of a run inside a trial: each epoch's metrics with its checkpoint to Tune,
    then the test hook (``fail_once_at_epoch``) if the trial's config asks for it."""
    def report(metrics: dict[str, float], checkpoint: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(checkpoint, os.path.join(directory, CHECKPOINT_FILE))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if config.get("fail_once_at_epoch") == metrics["epoch"]:
            _fail_once(config["marker_dir"], trial_id, metrics["epoch"])

    return report


def storage_location(settings, out_dir: str | os.PathLike) -> str:
    """The Tune storage path: the configured URI/path, else ``<out>/tune`` (an absolute path or a URI, as
    Tune wants: on a cluster every node reaches a URI, and Tune syncs checkpoints there)."""
    return normalise(settings.storage_path) if settings.storage_path else join(out_dir, "tune")


def base_space(settings, out_dir: str | os.PathLike) -> dict[str, Any]:
    """The part of every trial's parameter space that is not its own: threads and the test hook."""
    space: dict[str, Any] = {"threads": max(1, int(settings.cpus_per_trial))}
    if settings.fail_once_at_epoch is not None:
        space.update(fail_once_at_epoch=settings.fail_once_at_epoch,
                     marker_dir=join(out_dir, "fault-markers"))
    return space


def build_tuner(name: str, function: Callable, space: dict[str, Any], settings, out_dir: str | os.PathLike, *,
                tune_config: tune.TuneConfig, verbose: int = 1, **parameters: Any) -> tune.Tuner:
    """A new Tuner for experiment ``name`` running ``function(config, **parameters)``, or the restored one
    if that experiment already ran into the same storage. ``parameters`` (jets, settings) go through
    the object store once."""
    # A checkpoint per epoch is deliberate (exact resume); on short CPU epochs Tune warns about it.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    storage = storage_location(settings, out_dir)
    experiment = join(storage, name)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial, **dict(settings.trial_resources)}
    trainable = tune.with_resources(tune.with_parameters(function, **parameters), resources)
    if tune.Tuner.can_restore(experiment):
        return tune.Tuner.restore(experiment, trainable=trainable, param_space=space, resume_unfinished=True,
                                  resume_errored=True)
    # Trials of one stage ask for the same resources, so a finished trial's worker process can run the
    # next: its imports (torch, raysym) and start-up are paid once per worker, not once per trial. The runs
    # seed everything they draw from, so a reused process gives the same numbers.
    tune_config = dataclasses.replace(tune_config, reuse_actors=True)
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        # Every checkpoint is kept while trials run: the experiment state Tune restores from is a snapshot
        # uploaded now and then, and may name a checkpoint several epochs old; with Tune deleting all but
        # the last few, a driver killed at the wrong moment left trials that could not resume (measured on
        # S3). A finished trial's older checkpoints are deleted once it is collected (finished_checkpoints).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
        verbose=verbose,
    )
    return tune.Tuner(trainable, param_space=space, tune_config=tune_config, run_config=run_config)


def finished_checkpoints(results, skip: set[str] = frozenset()) -> tuple[list[tuple[str, dict[str, Any]]],
                                                                         list[str]]:
    """(trial id, last checkpoint) of every successful trial of a ``ResultGrid`` not in ``skip``, and an
    error message per failed trial. The last checkpoint holds every epoch exactly once, also for a trial
    that failed and resumed (where Tune saw some epochs twice)."""
    finished, errors = [], []
    for result in results:
        if result.checkpoint is None:
            errors.append(f"{result.path}: no checkpoint ({result.error or 'no epoch finished'})")
            continue
        if result.error is not None:
            errors.append(f"{result.path}: {result.error}")
            continue
        trial_id = trial_id_of(result.config, (result.metrics or {}).get("trial_id"))
        if trial_id in skip:
            continue
        with result.checkpoint.as_directory() as directory:
            finished.append((trial_id, load_checkpoint(os.path.join(directory, CHECKPOINT_FILE))))
        prune_checkpoints(result.checkpoint)
    return finished, errors


def prune_checkpoints(last: tune.Checkpoint) -> list[str]:
    """Delete a finished trial's checkpoints other than ``last`` (which holds its whole history and best
    weights); return the deleted folders. Works on any storage Tune writes to (local or a URI)."""
    fs, folder = last.filesystem, posixpath.dirname(last.path)
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    older = [i.path for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith("checkpoint_")
             and i.path != last.path]
    for path in older:
        fs.delete_dir(path)
    return older
