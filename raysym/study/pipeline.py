"""The whole study, stage by stage, each skipping what an earlier run already finished.

0. jets (:mod:`raysym.stages.jets`): hls4ml files or generated and cached; one seeded, stratified split;
1. training (:mod:`raysym.stages.training`): the Tune grid (or search); finished trials go to the store
   with their best-model files;
   with ``analyse_checkpoints="every:K"`` they also keep every K-th epoch's weights (trials stored without
   them run again to keep them);
2. evaluation (:mod:`raysym.stages.evaluation`): every best model (and kept epoch) on every task's test jets;
3. analyses (:mod:`raysym.stages.analyses`): the Hessian spectrum and trace, the pseudo-Goldstone scan
   along ν1, the pT smearing sweep and the learned symmetry, of every best model (and kept epoch);
4. distillation (:mod:`raysym.stages.distillation`): every teacher distilled into a fixed student, a
   second Tune run.

Every number lands in the Parquet store at ``<out>/store``; ``StudyOutcome`` says what ran and how long.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from raysym.artifacts import is_uri, join
from raysym.errors import Interrupted
from raysym.output_lock import OutputLock
from raysym.paths import writable_location
from raysym.ray_session import ensure_ray
from raysym.settings_key import canonical, record_text, settings_key
from raysym.stages.analyses import run_analysis_stage
from raysym.stages.analysis_registry import analysis_keys
from raysym.stages.checkpoints import analysed_models
from raysym.stages.distillation import run_distillation_stage
from raysym.stages.evaluation import run_evaluation_stage
from raysym.stages.jets import run_jets_stage
from raysym.stages.training import experiment_name, keep_missing_epochs, run_training_stage
from raysym.stages.trial_lines import DISTILLATION_METRICS, TRAINING_METRICS, TrialLines
from raysym.store import ResultStore
from raysym.study.config import StudyConfig
from raysym.study.footprint import check_footprint
from raysym.study.migration import Migration, migrate
from raysym.tracking.final import log_final_numbers

log = logging.getLogger(__name__)


@dataclass
class StudyOutcome:
    """What a run of the study did: where the store is (a path or a URI), seconds per stage, counts,
    failed trials, and the trials of this run's settings (the store may hold others)."""

    store_path: str
    seconds: dict[str, float] = field(default_factory=dict)
    trained: int = 0
    evaluated: int = 0
    analysed: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    trial_ids: list[str] = field(default_factory=list)
    distilled: int = 0
    student_ids: list[str] = field(default_factory=list)
    run_key: str | None = None
    #: What migrating an older store to the current schema changed (raysym.study.migration), or None.
    migration: Migration | None = None
    #: Per tracker (``--track``), how many tracked runs got final numbers this run (raysym.tracking.final).
    tracked: dict[str, int] = field(default_factory=dict)


def current_trials(config: StudyConfig, store: ResultStore, data_key: str) -> pd.DataFrame:
    """The stored trials of this study with its current settings: the grid's trial ids, or the trials of
    the current search experiment."""
    trials = store.load("trials")
    trials = trials[trials["study"] == config.name]
    planned = config.trials(data_key)
    if config.training.search is None:
        return trials[trials["trial_id"].isin(list(planned))]
    if "experiment" not in trials:
        return trials.iloc[:0]
    return trials[trials["experiment"] == experiment_name(config.name, planned, config.training, data_key)]


def run_study(config: StudyConfig, out_dir: str | Path, *, address: str | None = None, verbose: int = 1,
              progress: bool = True) -> StudyOutcome:
    """Run (or resume) ``config`` writing under ``out_dir``; everything checkable is checked before Ray starts.

    ``out_dir`` is a local folder or a URI (``s3://bucket/prefix``, any pyarrow filesystem): everything
    goes there — Tune's storage, the store, generated jets, model weights, ν1 vectors, teacher logits —
    so on a cluster no node reads a file another node kept locally. A location that cannot be written
    (missing bucket, refused credentials) fails here, before any work, and so does a location another
    study is writing to now (:mod:`raysym.output_lock`) and a study too large for its disk or this
    machine (:mod:`raysym.study.footprint`).

    A rerun with the same settings redoes nothing; with other settings (recipe, model sizes, jets, split,
    evaluation or analysis settings) it adds new results beside the old ones, and the outcome lists only
    the trials of the current settings.
    """
    config.validate(local=address is None)
    out_dir = writable_location(out_dir, "study output location")
    check_footprint(config, out_dir, local_disk=not is_uri(out_dir), local_ray=address is None)
    for tracker in config.track:
        tracker.check_output(out_dir)
    with OutputLock(out_dir, config.name):
        return _run_stages(config, out_dir, address=address, verbose=verbose, progress=progress)


def _run_stages(config: StudyConfig, out_dir: str, *, address: str | None, verbose: int,
                progress: bool) -> StudyOutcome:
    """The stages of :func:`run_study`, with the output location's lock held."""
    store = ResultStore(join(out_dir, "store")).create()
    for path in store.clean():
        log.info("removed %s, a temporary file a writer killed mid-write left", path)
    store.set_aside()  # files that do not fit their table (each logged): their results are computed again
    migration = migrate(store.uri)  # an older store's results under today's keys, so nothing is redone
    outcome = StudyOutcome(store_path=store.uri, migration=migration)
    if config.data.path is None:  # jets are generated by Ray tasks; the user's files are read without Ray,
        ensure_ray(address)              # so a bad file is one error before any cluster work
    with stage(outcome, "data"):
        jets = run_jets_stage(config.data, out_dir, config.recipe.task, config.evaluation.tasks, address=address,
                              progress=progress)
    ensure_ray(address)

    with stage(outcome, "training"):
        keep = config.checkpoints
        rows, outcome.errors = run_training_stage(store, config.name, config.trials(jets.key), config.training,
                                                  jets.train_data, out_dir, data_key=jets.key, verbose=verbose,
                                                  keep=keep,
                                                  callbacks=tune_callbacks(config, "training", progress, out_dir))
        outcome.trained = len(rows)
        trials = current_trials(config, store, jets.key)
        outcome.errors += keep_missing_epochs(store, config.name, trials, config.training, jets.train_data, out_dir,
                                              keep, verbose=verbose,
                                              callbacks=tune_callbacks(config, "training", progress, out_dir))
    outcome.trial_ids = sorted(trials["trial_id"])
    models = analysed_models(trials, store.load("checkpoints") if keep.every else None, keep)

    with stage(outcome, "evaluation"):
        new = run_evaluation_stage(store, models, jets.test, config.evaluation, progress=progress)
        outcome.evaluated = 0 if len(new) == 0 else len(
            new.drop_duplicates([c for c in ("trial_id", "epoch") if c in new]))

    with stage(outcome, "analyses"):
        outcome.analysed = run_analysis_stage(store, models, jets.train_data["train"], jets.test, config.analyses,
                                              task=config.recipe.task, progress=progress)

    with stage(outcome, "distillation"):
        if config.distillation.enabled and trials.empty:
            outcome.errors.append("distillation: no finished teacher to distil (every training trial failed)")
        elif config.distillation.enabled:
            distilled = run_distillation_stage(store, config.name, trials, config.distillation, config.model_options,
                                               config.training, jets.train_data, jets.key, jets.test,
                                               config.evaluation, out_dir, verbose=verbose, progress=progress,
                                               callbacks=tune_callbacks(config, "distillation", progress, out_dir))
            outcome.distilled, outcome.student_ids = distilled.trained, distilled.student_ids
            outcome.errors += distilled.errors
    outcome.run_key = record_run(store, config, jets, outcome)
    if config.track:
        with stage(outcome, "tracking"):
            computed = outcome.trained or outcome.evaluated or any(outcome.analysed.values()) or outcome.distilled
            outcome.tracked = log_final_numbers(config.track, config.name, store.uri, outcome.run_key, out_dir,
                                                computed=bool(computed))
    return outcome


def tune_callbacks(config: StudyConfig, stage: str, progress: bool, out_dir: str) -> list:
    """The callbacks of a Tune stage's run: the console's trial lines and bar (unless the study runs quietly,
    ``progress`` False), and a logger per experiment tracker of ``config.track`` (raysym.tracking), each
    writing where the study's output folder ``out_dir`` says by default."""
    metrics = DISTILLATION_METRICS if stage == "distillation" else TRAINING_METRICS
    trackers = [tracker.tune_callback(config.name, stage, out_dir) for tracker in config.track]
    return ([TrialLines(stage, metrics)] if progress else []) + trackers


@contextlib.contextmanager
def stage(outcome: StudyOutcome, name: str) -> Iterator[None]:
    """Time one stage of the study into ``outcome.seconds``; Ctrl-C inside it becomes
    :class:`raysym.errors.Interrupted` naming the stage (what a stage finished is stored, nothing unfinished
    is, and a rerun resumes from there)."""
    start = time.perf_counter()
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt as err:
        raise Interrupted(f"{name}: interrupted", name) from err
    finally:
        outcome.seconds[name] = time.perf_counter() - start


def run_keys(config: StudyConfig) -> dict[str, str]:
    """The settings keys that pick this run's rows out of tables shared with other runs."""
    return {"evaluation": config.evaluation.key(), **analysis_keys(config.analyses)}


def describe_jets(config: StudyConfig) -> str:
    """Where the study's jets came from, in words: the data set's files, or the generator and its settings."""
    if config.data.path is not None:
        return f"{config.data.dataset} files in {Path(config.data.path).resolve()}"
    return f"generated here (Pythia 8 + FastJet + parametric detector): {canonical(config.data.generator)}"


def record_run(store: ResultStore, config: StudyConfig, jets, outcome: StudyOutcome) -> str | None:
    """The ``studies`` row of this run: its configuration, its jets and what it produced; returns its key.
    Written once per settings, and only for a run in which nothing failed (a rerun that completes it
    writes it)."""
    if outcome.errors:
        return None
    config_json = record_text(config)
    run_key = settings_key(config_json, jets.key)
    if store.has("studies", f"{config.name}-{run_key}"):
        return run_key
    counts = {"train": len(jets.train_data["train"]), "val": len(jets.train_data["val"]),
              "test_by_class": jets.test.class_counts()}
    row = {"study": config.name, "run_key": run_key, "config_json": config_json,
           "data_source": describe_jets(config), "data_key": jets.key, "jets_json": json.dumps(counts),
           "trial_ids": json.dumps(outcome.trial_ids), "student_ids": json.dumps(outcome.student_ids),
           "keys_json": json.dumps(run_keys(config), sort_keys=True), "dataset_json": jets.test.record.to_json(),
           "finished_at": time.time()}
    store.write("studies", [row], key=f"{config.name}-{run_key}")
    return run_key
