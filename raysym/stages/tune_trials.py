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
import logging
import os
import posixpath
import signal
import tempfile
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import pyarrow.fs as pafs
from ray import tune
from ray.tune.result import DONE

from raysym.artifacts import exists, join, normalise, write_bytes
from raysym.errors import DataError, Interrupted
from raysym.ray_session import environment
from raysym.stages.checkpoint_pruning import KEEP_CHECKPOINTS, CheckpointPruner
from raysym.training.checkpoint import load_checkpoint, save_checkpoint
from raysym.training.loop import Report

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


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
    return trial_point(config).get("trial_id") or f"search-{tune_trial_id}"


def restored_checkpoint(report: Report | None = None) -> dict[str, Any] | None:
    """The checkpoint dict a retried or restored trial resumes from, or None for a fresh one.

    Tune hands the trial the checkpoint its experiment state names. That state is a snapshot written now
    and then (and uploaded asynchronously to a remote storage), so after a killed driver it may name a
    checkpoint older than the trial's newest (:mod:`raysym.stages.checkpoint_pruning` keeps the named one),
    or the named one may be cut short. So the trial resumes from the newest readable checkpoint in its own
    folder: the named one, or a later one beside it. A raysym checkpoint holds its whole history, best
    weights and random streams, so any later one of the same trial is a valid, further point to resume from.

    When it is a later one, it is reported again through ``report`` (the trial's epoch reporter) before
    anything else, so that Tune's latest checkpoint is the one the trial resumed from: a trial whose newest
    checkpoint is already its last epoch reports nothing more, and would otherwise end with Tune holding the
    older, named checkpoint as its result (seen after a killed driver on S3: a 20-epoch trial stored with 18).
    """
    named = tune.get_checkpoint()
    if named is None:
        return None
    newest, is_named = newest_checkpoint(named)
    if newest is not None and not is_named and report is not None and newest["history"]:
        report(dict(newest["history"][-1]), newest)
    return newest


def newest_checkpoint(named: tune.Checkpoint) -> tuple[dict[str, Any] | None, bool]:
    """The checkpoint dict of the highest epoch among ``named`` and the other checkpoints of its trial
    that can be read (:func:`restored_checkpoint`), and whether it is ``named`` itself; (None, False) when
    none can be read."""
    newest, is_named = None, False
    for candidate in trial_checkpoints(named):
        try:
            with candidate.as_directory() as directory:
                checkpoint = load_checkpoint(os.path.join(directory, CHECKPOINT_FILE))
        except (DataError, OSError) as err:  # deleted, or cut short by a lost worker
            log.warning("checkpoint %s cannot be resumed from (%s); trying the others of its trial", candidate.path,
                        err)
            continue
        if newest is None or checkpoint["epoch"] > newest["epoch"]:
            newest, is_named = checkpoint, candidate is named
    if newest is None:
        log.warning("no checkpoint of trial folder %s can be read: the trial starts again from its first epoch",
                    posixpath.dirname(named.path))
    return newest, is_named


def trial_checkpoints(named: tune.Checkpoint) -> list[tune.Checkpoint]:
    """The checkpoint folders of the trial whose checkpoint ``named`` is, ``named`` included even when
    it no longer exists (Tune's ``checkpoint_NNNNNN``, on the storage Tune writes to)."""
    fs, folder = named.filesystem, posixpath.dirname(named.path)
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    paths = {i.path for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith("checkpoint_")}
    return [named] + [tune.Checkpoint(path, filesystem=fs) for path in sorted(paths - {named.path})]


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


def grid_space(points: Mapping[str, Mapping[str, Any]], base: Mapping[str, Any]) -> dict[str, Any]:
    """Tune's parameter space of a grid whose points are named runs: one ``grid_search`` dimension,
    ``trial``, over dicts of each point's id and hyperparameters (``points[id]``: model, penalty, λ, seed,
    lr, … and a readable ``name``), beside the ``base`` entries every trial shares.

    The trainable still looks its run up by id alone (:func:`trial_id_of`); the hyperparameters are there
    so that what reads a Tune experiment sees what was compared: TensorBoard's HParams (Tune's logger
    shows the searched dimensions only, hence one dimension holding them all), ``ResultGrid.get_dataframe()``
    and ``ExperimentAnalysis.dataframe()`` (columns ``config/trial/bias``, …) and logger callbacks (MLflow,
    W&B). Ids are unchanged, so stored trials keep theirs.
    """
    return {"trial": tune.grid_search([{"trial_id": trial_id, **values} for trial_id, values in points.items()]),
            **base}


def trial_point(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A trial's own settings in its config: the ``trial`` entry :func:`grid_space` makes, or the config itself
    (a search's sampled entries; an experiment started before trials carried their hyperparameters)."""
    point = config.get("trial")
    return point if isinstance(point, Mapping) else config


def trial_name(trial) -> str:
    """A trial's name in Tune's output and loggers: its readable ``name`` (``teacher-seal-0.1-s0``: the id
    without its settings key, a column of its own), or for a sampled search trial its bias and Tune's id."""
    point = trial_point(trial.config)
    if point.get("name"):
        return str(point["name"])
    return f"{point.get('bias', 'search')}-{trial.trial_id}"


def trial_folder(trial) -> str:
    """A trial's folder in the experiment: the id it has in the store (unique, and file-safe)."""
    return trial_id_of(trial.config, trial.trial_id)


def trial_resources(settings) -> dict[str, float]:
    """What one trial asks Ray for, by Ray's resource names."""
    return {"CPU": settings.cpus_per_trial, "GPU": settings.gpus_per_trial, **dict(settings.trial_resources)}


def resource_text(resources: Mapping[str, float]) -> str:
    """``{"CPU": 1, "accelerator": 1}`` as ``CPU 1, accelerator 1`` (amounts as Ray counts them)."""
    return ", ".join(f"{name} {amount:g}" for name, amount in resources.items()) or "nothing"


def missing_resources(asked: Mapping[str, float], offered: Mapping[str, float]) -> dict[str, float]:
    """The resources of ``asked`` that no amount of ``offered`` (a cluster's total) can give one trial."""
    return {name: amount for name, amount in asked.items() if amount > 0 and offered.get(name, 0.0) < amount}


class PendingTrials(tune.Callback):
    """Says why a Tune run waits, instead of a silent hang: at the start if the cluster lacks a resource
    every trial asks for (a custom ``--trial-resource``, GPUs), and then every ``every_s`` seconds while
    trials wait and none runs: what each asks for, what the cluster has and has free.

    On a cluster that autoscales, a missing resource can come with a new node, so waiting is right; the
    lines say what the run waits for. (A local Ray never grows: the study refuses such settings before Ray
    starts, :meth:`raysym.study.config.StudyConfig.validate`.)
    """

    def __init__(self, asked: Mapping[str, float], every_s: float = 30.0):
        self.asked = dict(asked)
        self.every_s = every_s
        self._waiting_since: float | None = None
        self._said_at = 0.0

    def setup(self, **info) -> None:
        import ray

        missing = missing_resources(self.asked, ray.cluster_resources())
        if missing:
            log.warning("every trial asks for %s, but no node of this cluster offers %s now: trials wait until "
                        "a node that does joins (an autoscaler adds one if its node types offer it)",
                        resource_text(self.asked), resource_text(missing))

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        import ray

        waiting = [t for t in trials if t.status == "PENDING"]
        if not waiting or any(t.status == "RUNNING" for t in trials):
            self._waiting_since = None
            return
        now = time.monotonic()
        if self._waiting_since is None:
            self._waiting_since = self._said_at = now
            return
        if now - self._said_at < self.every_s:
            return
        self._said_at = now
        total, free = ray.cluster_resources(), ray.available_resources()
        missing = missing_resources(self.asked, total)
        log.warning("%d trial(s) have waited %.0f s with none running: each asks for %s; the cluster has %s "
                    "(free: %s)%s", len(waiting), now - self._waiting_since, resource_text(self.asked),
                    resource_text(_ray_resources(total)), resource_text(_ray_resources(free)),
                    f"; no node offers {resource_text(missing)}" if missing else "")


def _ray_resources(resources: Mapping[str, float]) -> dict[str, float]:
    """A cluster's resources without Ray's bookkeeping entries (node ids, memory, object store)."""
    return {name: amount for name, amount in sorted(resources.items())
            if not name.startswith("node:") and name not in ("memory", "object_store_memory")}


def build_tuner(name: str, function: Callable, space: dict[str, Any], settings, out_dir: str | os.PathLike, *,
                tune_config: tune.TuneConfig, verbose: int = 1, callbacks: Sequence[tune.Callback] = (),
                **parameters: Any) -> tune.Tuner:
    """A new Tuner for experiment ``name`` running ``function(config, **parameters)``, or the restored one
    if that experiment already ran into the same storage. ``parameters`` (jets, settings) go through
    the object store once. ``callbacks`` (the console's trial lines, experiment trackers) and ``verbose``
    (Tune's own table: 0 none, 1 and up Tune's levels) are this run's, also for a restored experiment."""
    # A checkpoint per epoch is deliberate (exact resume); on short CPU epochs Tune warns about it.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    storage = storage_location(settings, out_dir)
    experiment = join(storage, name)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial, **dict(settings.trial_resources)}
    trainable = tune.with_resources(tune.with_parameters(function, **parameters), resources)
    callbacks = [PendingTrials(trial_resources(settings)), CheckpointPruner(KEEP_CHECKPOINTS), *callbacks]
    if tune.Tuner.can_restore(experiment):
        tuner = tune.Tuner.restore(experiment, trainable=trainable, param_space=space, resume_unfinished=True,
                                   resume_errored=True)
        return with_run_output(tuner, callbacks, verbose)
    # Trials of one stage ask for the same resources, so a finished trial's worker process can run the
    # next: its imports (torch, raysym) and start-up are paid once per worker, not once per trial. The runs
    # seed everything they draw from, so a reused process gives the same numbers.
    tune_config = dataclasses.replace(tune_config, reuse_actors=True)
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage,
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        # Tune deletes no checkpoint: its own bound can delete one the stored experiment state still names.
        # CheckpointPruner bounds them instead; a finished trial keeps only its last once it is collected
        # (finished_checkpoints).
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
        verbose=verbose,
        callbacks=callbacks,
    )
    tune_config = dataclasses.replace(tune_config, trial_name_creator=trial_name, trial_dirname_creator=trial_folder)
    return silent_unless(tune.Tuner(trainable, param_space=space, tune_config=tune_config, run_config=run_config),
                         verbose)


def silent_unless(tuner: tune.Tuner, verbose: int) -> tune.Tuner:
    """Mark ``tuner`` to run without Tune's console output when ``verbose`` is 0 (:func:`fit` reads the mark).

    Tune's current output engine prints an experiment's configuration box, its folder and a TensorBoard
    hint at every verbosity, 0 included; its older engine prints nothing at 0. So a silent run uses the
    older engine (``RAY_AIR_NEW_OUTPUT=0``, set only while ``fit`` runs) and the stage's own trial lines
    (:mod:`raysym.stages.trial_lines`) say what happens.
    """
    tuner._raysym_silent = verbose == 0
    return tuner


def with_run_output(tuner: tune.Tuner, callbacks: list[tune.Callback], verbose: int) -> tune.Tuner:
    """A restored Tuner with this run's callbacks and verbosity instead of those pickled with the experiment.

    ``Tuner.restore`` brings back the run configuration of the run that started the experiment, callbacks
    included: a study resumed with ``--track mlflow`` or ``--quiet`` would otherwise log and print as the
    interrupted run did. Ray offers no public way to change them on restore, so this sets them on the run
    configuration the restored Tuner holds (``Tuner._local_tuner.get_run_config()``, Ray 2.60); if that
    ever moves, the restored run keeps its own and says so.
    """
    try:
        run_config = tuner._local_tuner.get_run_config()
        run_config.callbacks, run_config.verbose = callbacks, verbose
    except AttributeError:
        log.warning("this Ray cannot change a restored Tune run's callbacks: it keeps those of the run that "
                    "started it")
    return silent_unless(tuner, verbose)


#: The signals ``Tuner.fit`` takes over while it runs (SIGUSR1 where the platform has it).
_TUNE_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGUSR1") if hasattr(signal, name))


def fit(tuner: tune.Tuner, stage: str):
    """``tuner.fit()``: the ``ResultGrid`` of a run that ended, or :class:`raysym.errors.Interrupted`.

    While ``fit`` runs, Tune handles Ctrl-C itself: the first one stops every trial, saves the experiment
    state one last time and returns normally, with the stopped trials marked terminated like finished ones.
    Taken as a finished run, that return would store half-trained trials as done and go on to the next
    stage; so a grid with a trial that neither failed nor :func:`ran_to_its_end` raises ``Interrupted`` (nothing
    of it is stored, and the next run
    restores the experiment and resumes them from their last checkpoints). Tune also leaves its handler in
    place after a run no one interrupted, which would swallow the next Ctrl-C of a later stage: the
    process's own handlers are put back whichever way ``fit`` ends.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    saved = {sig: signal.getsignal(sig) for sig in _TUNE_SIGNALS} if main_thread else {}
    output = {"RAY_AIR_NEW_OUTPUT": "0"} if getattr(tuner, "_raysym_silent", False) else {}
    try:
        with environment(output):
            results = tuner.fit()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    unfinished = sum(1 for result in results if result.error is None and not ran_to_its_end(result))
    if unfinished:
        raise Interrupted(f"{stage}: {unfinished} of {len(results)} trial(s) stopped before they finished", stage)
    return results


def ran_to_its_end(result) -> bool:
    """Whether a trial's run ended by itself (its function returned) or by the scheduler's decision (ASHA):
    Tune then marks its last result ``done``. A trial stopped because the whole run was interrupted ends
    without it, whatever status Tune gives it."""
    return bool((result.metrics or {}).get(DONE))


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
        if not ran_to_its_end(result):  # cut short (fit raises for that first; this guards every other caller)
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
