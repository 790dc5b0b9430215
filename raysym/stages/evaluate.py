"""Stage 2, performance (SPEC §6): every best model on the test jets of ``g_vs_w``, ``g_vs_z`` and ``g_vs_t``.

``evaluate_model_file`` is the plain analysis: one model file and a jet set in, rows of accuracy,
ROC-AUC and a thinned ROC curve out; it needs no Ray. ``run_evaluation_stage`` fans it out, one Ray
task per trial not yet in the store, and writes each trial's rows as soon as its task finishes. The
models are trained on ``g_vs_w``; ``g_vs_z`` and ``g_vs_t`` are the out-of-distribution tests.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import pandas as pd
import ray
import torch

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.data.jetset import TASKS, JetSet
from raysym.errors import ConfigError, DataError
from raysym.metrics import roc_curve
from raysym.stages.fanout import current_node_id, fan_out
from raysym.store import TRIAL_KEYS
from raysym.training.checkpoint import load_best_model
from raysym.training.evaluate import classification_metrics, predict_logits

log = logging.getLogger(__name__)

#: The three tasks of the study (SPEC §1.1): in-distribution, near and far out-of-distribution.
EVALUATION_TASKS: tuple[str, ...] = ("g_vs_w", "g_vs_z", "g_vs_t")
#: The split these metrics come from; a column of the rows so later splits can share the tables.
SPLIT = "test"


def check_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    """``tasks`` as a tuple after checking each is a known task; catches typos before any model loads."""
    tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ConfigError(f"unknown or no task(s) {unknown or list(tasks)}; known tasks: {', '.join(TASKS)}")
    return tasks


def thin_roc(fpr: np.ndarray, tpr: np.ndarray, threshold: np.ndarray,
             max_points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``max_points`` points of an ROC curve: both endpoints and points evenly spread in ε_S.

    A full curve has a point per distinct score (10⁵ on the paper's test set), far more than a figure
    needs. The paper plots background rejection 1/ε_B against signal efficiency ε_S and quotes working
    points at fixed ε_S, so the points are taken at evenly spaced ε_S: for each target, the first curve
    point reaching it, which is the lowest-ε_B cut with that efficiency. The points are a subset of the
    curve, so it stays monotone and exact where it is sampled; (0, 0) and (1, 1) are always kept.
    """
    if max_points < 2:
        raise ConfigError(f"an ROC curve needs at least its two endpoints, got roc_points={max_points}")
    if len(tpr) <= max_points:
        return fpr, tpr, threshold
    targets = np.linspace(0.0, 1.0, max_points - 1)
    keep = np.unique(np.r_[np.searchsorted(tpr, targets, side="left"), 0, len(tpr) - 1])
    return fpr[keep], tpr[keep], threshold[keep]


def _task_selection(labels: np.ndarray, task: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the task's jets, their 0/1 targets): gluon 0, the task's signal class 1.

    The same selection as ``JetSet.for_task``, but as indices into one set of logits, so a model scores
    the test jets once for all three tasks instead of scoring the gluons three times.
    """
    background, signal = (CLASS_NAMES.index(c) for c in TASKS[task])
    for index in (background, signal):
        if not (labels == index).any():
            raise DataError(f"task {task!r} needs class {CLASS_NAMES[index]!r}, but the test jets from "
                            f"{source or '<unnamed source>'} have none")
    keep = np.flatnonzero((labels == background) | (labels == signal))
    return keep, (labels[keep] == signal).astype(np.float32)


def _task_rows(task: str, logits: np.ndarray, y: np.ndarray,
               roc_points: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The evaluation row and the thinned ROC rows of one task, from the model's logits on its jets."""
    metrics = classification_metrics(logits, y)
    n_signal = int(y.sum())
    row = {"task": task, "split": SPLIT, "accuracy": metrics["accuracy"], "roc_auc": metrics["roc_auc"],
           "bce": metrics["bce"], "n_jets": int(len(y)), "n_signal": n_signal,
           "n_background": int(len(y)) - n_signal}
    fpr, tpr, threshold = thin_roc(*roc_curve(logits, y), max_points=roc_points)
    roc = [{"task": task, "split": SPLIT, "fpr": float(f), "tpr": float(t), "threshold": float(c)}
           for f, t, c in zip(fpr, tpr, threshold)]
    return row, roc


def evaluate_model_file(path, test_jets: JetSet, tasks: Sequence[str] = EVALUATION_TASKS, batch_size: int = 2048,
                        roc_points: int = 200, skip_missing: bool = False) -> tuple[list[dict], list[dict]]:
    """(evaluation rows, ROC rows) of the best model in ``path`` on each task's view of ``test_jets``.

    One evaluation row per task: task, split ("test"), accuracy (logit > 0), roc_auc, bce, n_jets,
    n_signal, n_background. ROC rows: task, split, fpr (ε_B), tpr (ε_S), threshold (cut on the logit),
    at most ``roc_points`` per task (see :func:`thin_roc`). Rows carry no trial keys: the caller knows
    the trial. A task whose classes are missing from ``test_jets`` is a ``DataError``, or with
    ``skip_missing`` a logged warning and no rows.
    """
    tasks = check_tasks(tasks)
    labels = np.asarray(test_jets.label)
    selections = {}
    for task in tasks:
        try:
            selections[task] = _task_selection(labels, task, test_jets.source)
        except DataError as err:
            if not skip_missing:
                raise
            log.warning("skipping %s for %s: %s", task, path, err)
    if not selections:
        return [], []
    model, _, _ = load_best_model(path)
    needed = np.unique(np.concatenate([index for index, _ in selections.values()]))
    # Fancy indexing copies, so the tensors are writable even when the jets are read-only object-store buffers.
    logits = np.empty(len(labels))
    logits[needed] = predict_logits(model, torch.from_numpy(test_jets.p4[needed]),
                                    torch.from_numpy(test_jets.mask[needed]), batch_size)
    rows, roc = [], []
    for task, (index, y) in selections.items():
        row, curve = _task_rows(task, logits[index], y, roc_points)
        rows.append(row)
        roc.extend(curve)
    return rows, roc


def evaluate_here(path: str, test_jets: JetSet, **options: Any) -> tuple[list[dict], list[dict], str | None]:
    """:func:`evaluate_model_file` plus the id of the Ray node it ran on (None outside Ray).

    The node id goes into the rows, so a study shows where its work ran.
    """
    rows, roc = evaluate_model_file(path, test_jets, **options)
    return rows, roc, current_node_id()


@ray.remote(num_cpus=1)
def evaluate_trial_remote(path: str, test_jets: JetSet, **options: Any) -> tuple[list[dict], list[dict], str | None]:
    """One stage task: :func:`evaluate_here` with torch on one thread.

    One thread, because the scheduler gives each task one CPU: more threads per task would fight over
    the node's cores with the other tasks there.
    """
    torch.set_num_threads(1)
    return evaluate_here(path, test_jets, **options)


# -- the stage ---------------------------------------------------------------------------------------


def _check_trials(trials: pd.DataFrame) -> None:
    """Fail early on a trials table the stage cannot use: missing columns or a trial listed twice."""
    missing = [c for c in (*TRIAL_KEYS, "checkpoint_path") if c not in trials.columns]
    if missing:
        raise DataError(f"the trials table lacks column(s) {', '.join(missing)}")
    repeated = trials["trial_id"][trials["trial_id"].duplicated()].unique()
    if len(repeated):
        raise DataError(f"trial id(s) {', '.join(map(str, repeated[:5]))} appear more than once in the trials table")


def _with_keys(rows: list[dict], keys: dict[str, Any], **extra: Any) -> pd.DataFrame:
    """``rows`` as a frame with the trial's keys in front, so any table joins any other on them."""
    return pd.DataFrame([{**keys, **row, **extra} for row in rows])


def _model_file(trial: dict[str, Any]) -> str:
    """What a task needs of its trial: the path of the best-model file."""
    return str(trial["checkpoint_path"])


def run_evaluation_stage(store, trials: pd.DataFrame, test_jets, *, tasks: Sequence[str] = EVALUATION_TASKS,
                         batch_size: int = 2048, roc_points: int = 200, skip_missing: bool = False,
                         spread: bool = True, progress: bool = True, use_ray: bool = True) -> pd.DataFrame:
    """Evaluate every trial's best model not yet in ``store``; return the new ``evaluations`` rows.

    ``trials`` are rows of the trials table (the trial keys and ``checkpoint_path``, a file every worker
    can read: shared storage on a cluster, a local path on one machine). ``test_jets`` is a ``JetSet``
    or its object ref; it goes into the object store once for all tasks. Each trial is one task (one
    CPU; SPREAD over the nodes when ``spread``); as each finishes, its ROC rows and then its evaluation
    rows (with a ``node_id`` column) are written under key = trial_id. Evaluations are written last, so
    ``store.has("evaluations", trial_id)`` means the trial is complete and a rerun skips it.
    """
    tasks = check_tasks(tasks)
    _check_trials(trials)
    todo = [row for row in trials.to_dict("records") if not store.has("evaluations", str(row["trial_id"]))]
    if not todo:
        return pd.DataFrame()
    if use_ray and not isinstance(test_jets, ray.ObjectRef):
        test_jets = ray.put(test_jets)
    options = dict(tasks=tasks, batch_size=batch_size, roc_points=roc_points, skip_missing=skip_missing)
    results = fan_out(evaluate_trial_remote if use_ray else evaluate_here, todo, argument=_model_file,
                      args=(test_jets,), kwargs=options, spread=spread, progress=progress, desc="evaluate",
                      use_ray=use_ray)
    new = []
    for trial, (rows, roc, node_id) in results:
        keys = {k: trial[k] for k in TRIAL_KEYS}
        key = str(trial["trial_id"])
        if not rows:  # every task skipped (skip_missing): nothing to store, so a rerun tries again
            continue
        store.write("roc", _with_keys(roc, keys), key=key)
        evaluations = _with_keys(rows, keys, node_id=node_id)
        store.write("evaluations", evaluations, key=key)
        new.append(evaluations)
    return pd.concat(new, ignore_index=True) if new else pd.DataFrame()
