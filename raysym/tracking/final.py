"""A study's final numbers in its tracked runs: what exists only after evaluation, analyses and distillation.

The Tune loggers (:mod:`raysym.tracking.callbacks`) end with a trial's training. Its test-set scores and
analyses come later, as Ray tasks, into the store; when the study ends they are read back as the report
reads them (this run's trials and settings keys, each trial's best model: :func:`raysym.report.selection.
select_run`) and logged to each trial's and student's run: MLflow metrics (step 0) of the run tagged with
its trial id, and the summary of the W&B run of its fixed id (W&B's offline mode keeps that as one more
file of the same run, which ``wandb sync`` uploads into it, in order).

A rerun must not make new runs, and does not: it finds the same ones. What it logs there: to MLflow only
the numbers that differ from those the run has (a rerun that computed nothing logs nothing); to W&B,
which offline cannot be read back, the summaries again when this run computed something (trained,
evaluated, analysed or distilled), and nothing otherwise.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any, Iterable, Mapping

import pandas as pd

from raysym.report import summaries
from raysym.report.selection import StudyRun, select_run
from raysym.tracking import Tracking, wandb_run_id

log = logging.getLogger(__name__)

#: The stage whose Tune run made a teacher's or a student's tracked run.
TEACHERS, STUDENTS = "training", "distillation"
_STUDENT_SCORE = re.compile(r"^(accuracy|roc_auc)_(.+)$")


def final_numbers(run: StudyRun) -> dict[str, tuple[str, dict[str, float]]]:
    """Every trial's and student's final numbers by its id: (its stage, {metric: value}).

    Teachers: ``test/<task>/accuracy`` and ``roc_auc``; ``hessian/lambda1``, ``trace``, ``trace_stderr``;
    ``goldstone/<direction>/loss_rise`` and ``r_deviation``; ``smearing/roc_auc_drop`` (σ = 0 to the
    largest σ); ``symmetry/<transform>/violation``. Students: ``test/<task>/accuracy`` and ``roc_auc``,
    ``distillation/final_val_mse`` and ``best_val_mse``. Only finite numbers; an analysis the run did
    not make is left out.
    """
    numbers: dict[str, dict[str, float]] = {}

    def add(frame: pd.DataFrame, name, value: str) -> None:
        for _, row in frame.iterrows():
            numbers.setdefault(str(row["trial_id"]), {})[name(row) if callable(name) else name] = row[value]

    if run.has("evaluations"):
        scores = run.table("evaluations")
        for metric in ("accuracy", "roc_auc"):
            add(scores, lambda row, m=metric: f"test/{row['task']}/{m}", metric)
    if run.has("hessian"):
        curvature = summaries.curvature(run)
        for value in ("lambda1", "trace", "trace_stderr"):
            add(curvature, f"hessian/{value}", value)
    if run.has("goldstone"):
        rise = summaries.goldstone_rise(run)
        add(rise, lambda row: f"goldstone/{row['direction']}/loss_rise", "rise")
        add(rise, lambda row: f"goldstone/{row['direction']}/r_deviation", "r_deviation")
    if run.has("smearing"):
        add(summaries.smearing_drop(run), "smearing/roc_auc_drop", "drop")
    if run.has("symmetry"):
        for transform in sorted(set(run.table("symmetry")["transform"])):
            add(summaries.symmetry_violation(run, transform), f"symmetry/{transform}/violation", "violation")
    tracked = {trial_id: (TEACHERS, values) for trial_id, values in numbers.items()}
    if run.has("students"):
        for _, row in run.table("students").drop_duplicates("student_id").iterrows():
            values = {f"distillation/{name}": row[name] for name in ("final_val_mse", "best_val_mse")}
            for column in row.index:
                match = _STUDENT_SCORE.match(column)
                if match:
                    values[f"test/{match.group(2)}/{match.group(1)}"] = row[column]
            tracked[str(row["student_id"])] = (STUDENTS, values)
    return {run_id: (stage, _finite(values)) for run_id, (stage, values) in tracked.items()}


def _finite(values: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for name, value in values.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[name] = number
    return out


def log_final_numbers(tracks: Iterable[Tracking], study: str, store_path: str, run_key: str | None,
                      out_dir: str, *, computed: bool) -> dict[str, int]:
    """Log the final numbers of the study run ``run_key`` (in the store at ``store_path``) to the tracked
    runs of its trials and students; returns how many runs each tracker got numbers in.

    ``computed``: whether this run trained, evaluated, analysed or distilled anything (W&B is updated only
    then; see the module's text). A run with failed trials is not recorded (``run_key`` None): its numbers
    go to the trackers when a rerun completes it. A tracker that cannot be reached is a warning: the
    numbers are in the store whatever a tracker does.
    """
    tracks = tuple(tracks)
    if not tracks or run_key is None:
        return {}
    numbers = final_numbers(select_run(store_path, study, run_key))
    logged = {}
    for track in tracks:
        try:
            if track.tool == "mlflow":
                logged["mlflow"] = log_to_mlflow(track.mlflow_uri(out_dir), study, numbers)
            elif computed:
                logged["wandb"] = log_to_wandb(track, study, out_dir, numbers)
        except Exception as err:  # the tracker's own failure (server down, disk full): the store has it all
            log.warning("--track %s: the final numbers were not logged: %s", track.text, err)
    return logged


def log_to_mlflow(uri: str, study: str, numbers: Mapping[str, tuple[str, dict[str, float]]]) -> int:
    """Each trial's numbers as metrics of its MLflow run (by its tags), those that differ from what the run
    has; returns the runs that got any. A trial without a run (trained before tracking) is skipped."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from raysym.tracking.callbacks import tracked_runs

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(study)
    if experiment is None:
        return 0
    updated = 0
    now = int(time.time() * 1000)
    for trial_id, (stage, values) in sorted(numbers.items()):
        runs = tracked_runs(client, [experiment.experiment_id], trial_id, stage)
        if not runs:
            log.info("MLflow has no run of %s (trained before it was tracked)", trial_id)
            continue
        have = runs[0].data.metrics
        new = [Metric(name, value, now, 0) for name, value in sorted(values.items()) if have.get(name) != value]
        if new:
            client.log_batch(runs[0].info.run_id, metrics=new)
            updated += 1
    return updated


def log_to_wandb(track: Tracking, study: str, out_dir: str,
                 numbers: Mapping[str, tuple[str, dict[str, float]]]) -> int:
    """Each trial's numbers as the summary of its W&B run, resumed by its id; returns the runs updated."""
    import wandb

    settings = track.wandb_settings(out_dir)
    quiet = {**settings.pop("settings", {}), "console": "off"}  # the study's console stays the study's
    for trial_id, (stage, values) in sorted(numbers.items()):
        run = wandb.init(project=track.wandb_project(study), id=wandb_run_id(study, trial_id), resume="allow",
                         job_type=stage, settings=quiet, **settings)
        run.summary.update(values)
        run.finish()
    return len(numbers)
