"""Stage 2 of a study, performance (docs/methods.md §6.1): every best model on the test jets of each task.

``evaluate_model_file`` is the plain analysis: one model file and a jet set in, rows of accuracy,
ROC-AUC and a thinned ROC curve out; it needs no Ray. ``run_evaluation_stage`` fans it out
(:func:`raysym.fanout.fan_out`), one task per trial not yet in the store, and writes each trial's rows
as soon as its task finishes. The tasks are the data set's (:mod:`raysym.data.tasks`): on hls4ml jets the
models are trained on ``g_vs_w``, and ``g_vs_z`` and ``g_vs_t`` are the out-of-distribution tests. Jets with
weights (a weighted data set) are scored weighted: accuracy, ROC-AUC, BCE and the ROC curve.

With ``keep_scores`` the stage also keeps every test jet's logit (the ``scores`` table: one row per model,
task and jet), so anyone can compute another ROC curve or working point than the thinned one stored; it
is off by default because the table grows with test jets × tasks × models (× kept epochs). The switch
changes no number, so it is outside the evaluation key: turning it on for a study already evaluated
scores its models again for the scores alone and leaves their evaluation rows as they are.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from raysym.data.jetset import JetSet, check_task_name, task_selection
from raysym.errors import ConfigError, DataError, positive_int
from raysym.fanout import current_node_id, fan_out, share
from raysym.metrics import classification_metrics, roc_curve
from raysym.models.predict import PREDICT_BATCH_SIZE, predict_logits
from raysym.settings_key import canonical, settings_key
from raysym.stages.checkpoints import describe, model_key, which_weights
from raysym.store import TRIAL_KEYS, row_keys
from raysym.training.checkpoint import load_best_model

log = logging.getLogger(__name__)

#: The split these metrics come from; a column of the rows so later splits can share the tables.
SPLIT = "test"


@dataclass(frozen=True)
class EvaluationSettings:
    """What the evaluation stage scores and how: the tasks (in-distribution ``g_vs_w``, near and far
    out-of-distribution ``g_vs_z`` and ``g_vs_t``), the batch size of the forward passes, the points
    kept per ROC curve, the CPUs (= torch threads) of one task, and whether every test jet's logit is
    kept (``keep_scores``)."""

    tasks: tuple[str, ...] = ("g_vs_w", "g_vs_z", "g_vs_t")
    batch_size: int = PREDICT_BATCH_SIZE
    roc_points: int = 200
    cpus_per_task: float = 1.0
    #: Also store every test jet's logit (the ``scores`` table), not only the metrics and the thinned ROC.
    keep_scores: bool = False

    def __post_init__(self) -> None:
        tasks = (self.tasks,) if isinstance(self.tasks, str) else tuple(self.tasks)
        if not tasks:
            raise ConfigError("no evaluation tasks given")
        object.__setattr__(self, "tasks", tuple(check_task_name(t) for t in tasks))
        positive_int("evaluation batch size", self.batch_size)
        if isinstance(self.roc_points, bool) or not isinstance(self.roc_points, int) or self.roc_points < 2:
            raise ConfigError(f"an ROC curve needs at least its two endpoints, got roc_points={self.roc_points!r}")
        if not (self.cpus_per_task > 0 and math.isfinite(self.cpus_per_task)):
            raise ConfigError(f"evaluation: cpus per task must be > 0, got {self.cpus_per_task}")
        if not isinstance(self.keep_scores, (bool, np.bool_)):
            raise ConfigError(f"evaluation: keep_scores must be true or false, got {self.keep_scores!r}")

    #: Not in the key: the CPUs a task holds, and whether per-jet scores are also stored (the metrics are the
    #: same either way; the scores' own rows carry this key, so they join the evaluation they belong to).
    KEY_EXCLUDED: ClassVar[frozenset[str]] = frozenset({"cpus_per_task", "keep_scores"})

    def key(self) -> str:
        """A short hash of every setting but :data:`KEY_EXCLUDED` (raysym.settings_key)."""
        return settings_key("evaluation", canonical(self))


def thin_roc(fpr: np.ndarray, tpr: np.ndarray, threshold: np.ndarray,
             max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``max_points`` points of an ROC curve: both endpoints and points evenly spread in ε_S.

    A full curve has a point per distinct score (10⁵ on the paper's test set), far more than a figure
    needs. ROC curves in the field are read as background rejection 1/ε_B against signal efficiency ε_S,
    with working points at fixed ε_S, so the points are taken at evenly spaced ε_S: for each target, the first curve
    point reaching it, which is the lowest-ε_B cut with that efficiency. The points are a subset of the
    curve, so it stays monotone and exact where it is sampled; (0, 0) and (1, 1) are always kept.
    """
    if len(tpr) <= max_points:
        return fpr, tpr, threshold
    targets = np.linspace(0.0, 1.0, max_points - 1)
    keep = np.unique(np.r_[np.searchsorted(tpr, targets, side="left"), 0, len(tpr) - 1])
    return fpr[keep], tpr[keep], threshold[keep]


def _task_rows(task: str, logits: np.ndarray, y: np.ndarray, roc_points: int,
               weight: np.ndarray | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The evaluation row and the thinned ROC rows of one task, from the model's logits on its jets (and
    their weights, where they have them)."""
    metrics = classification_metrics(logits, y, weight)
    n_signal = int(y.sum())
    row = {"task": task, "split": SPLIT, "accuracy": metrics["accuracy"], "roc_auc": metrics["roc_auc"],
           "bce": metrics["bce"], "n_jets": int(len(y)), "n_signal": n_signal,
           "n_background": int(len(y)) - n_signal}
    fpr, tpr, threshold = thin_roc(*roc_curve(logits, y, weight), max_points=roc_points)
    roc = [{"task": task, "split": SPLIT, "fpr": float(f), "tpr": float(t), "threshold": float(c)}
           for f, t, c in zip(fpr, tpr, threshold)]
    return row, roc


def evaluate_model_file(path, test_jets: JetSet, settings: EvaluationSettings = EvaluationSettings(),
                        skip_missing: bool = False) -> tuple[list[dict], list[dict]]:
    """(evaluation rows, ROC rows) of the best model in ``path`` on each task's view of ``test_jets``.

    One evaluation row per task: task, split ("test"), accuracy (logit > 0), roc_auc, bce, n_jets,
    n_signal, n_background. ROC rows: task, split, fpr (ε_B), tpr (ε_S), threshold (cut on the logit),
    at most ``settings.roc_points`` per task (see :func:`thin_roc`). Rows carry no trial keys: the caller
    knows the trial. A task whose classes are missing from ``test_jets`` is a ``DataError``, or with
    ``skip_missing`` a logged warning and no rows. The model scores the jets of all tasks in one pass.
    """
    rows, roc, _ = _evaluate(path, test_jets, settings, skip_missing, keep_scores=False)
    return rows, roc


def _scored_tasks(path, test_jets: JetSet, tasks: tuple[str, ...], batch_size: int,
                  skip_missing: bool) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Task -> (positions of its jets in ``test_jets``, their targets, the model's logits on them), from one
    forward pass over the jets any task needs."""
    labels = np.asarray(test_jets.label)
    selections = {}
    for task in tasks:
        try:
            selections[task] = task_selection(labels, test_jets.task_spec(task), test_jets.classes,
                                              test_jets.source)
        except DataError as err:
            if not skip_missing:
                raise
            log.warning("skipping %s for %s: %s", task, path, err)
    if not selections:
        return {}
    model, _, _ = load_best_model(path)
    needed = np.unique(np.concatenate([index for index, _ in selections.values()]))
    # Fancy indexing copies, so the tensors are writable even when the jets are read-only object-store buffers.
    logits = np.empty(len(labels))
    logits[needed] = predict_logits(model, torch.from_numpy(test_jets.p4[needed]),
                                    torch.from_numpy(test_jets.mask[needed]), batch_size)
    return {task: (index, y, logits[index]) for task, (index, y) in selections.items()}


def score_rows(task: str, index: np.ndarray, y: np.ndarray, logits: np.ndarray,
               weight: np.ndarray | None = None) -> pd.DataFrame:
    """The ``scores`` rows of one model and task: per test jet its position in the test split (``jet``), its
    target (``label``: 1 signal, 0 background), the model's ``logit`` and, for weighted jets, its ``weight``.
    A frame, not dicts: the paper's test set gives 10⁵ rows per task."""
    frame = pd.DataFrame({"task": task, "split": SPLIT, "jet": np.asarray(index, dtype=np.int64),
                          "label": np.asarray(y).astype(np.int64), "logit": np.asarray(logits, dtype=np.float64)})
    if weight is not None:
        frame["weight"] = np.asarray(weight, dtype=np.float64)
    return frame


def _evaluate(path, test_jets: JetSet, settings: EvaluationSettings, skip_missing: bool,
              keep_scores: bool) -> tuple[list[dict], list[dict], pd.DataFrame | None]:
    """:func:`evaluate_model_file`'s rows and, with ``keep_scores``, the per-jet scores of every task (None
    without, or when every task was skipped)."""
    rows, roc, scores = [], [], []
    for task, (index, y, logits) in _scored_tasks(path, test_jets, settings.tasks, settings.batch_size,
                                                  skip_missing).items():
        weight = None if test_jets.weight is None else test_jets.weight[index]
        row, curve = _task_rows(task, logits, y, settings.roc_points, weight)
        rows.append(row)
        roc.extend(curve)
        if keep_scores:
            scores.append(score_rows(task, index, y, logits, weight))
    return rows, roc, (pd.concat(scores, ignore_index=True) if scores else None)


def evaluate_on_node(path: str, test_jets: JetSet, settings: EvaluationSettings,
                     skip_missing: bool) -> tuple[list[dict], list[dict], str | None]:
    """One fan-out task: :func:`evaluate_model_file` plus the id of the Ray node it ran on (None outside Ray).

    The node id goes into the rows, so a study shows where its work ran.
    """
    rows, roc = evaluate_model_file(path, test_jets, settings, skip_missing)
    return rows, roc, current_node_id()


def evaluate_and_score_on_node(path: str, test_jets: JetSet, settings: EvaluationSettings,
                               skip_missing: bool) -> tuple[list[dict], list[dict], pd.DataFrame | None, str | None]:
    """The stage's fan-out task: :func:`evaluate_on_node`'s rows, the per-jet scores when
    ``settings.keep_scores`` asks for them (else None), and the node id."""
    rows, roc, scores = _evaluate(path, test_jets, settings, skip_missing, settings.keep_scores)
    return rows, roc, scores, current_node_id()


# -- the stage ---------------------------------------------------------------------------------------


def _check_trials(trials: pd.DataFrame) -> None:
    """Fail early on a trials table the stage cannot use: missing columns or a model listed twice."""
    missing = [c for c in (*TRIAL_KEYS, "model_path") if c not in trials.columns]
    if missing:
        raise DataError(f"the trials table lacks column(s) {', '.join(missing)}")
    ids = trials["model_id"] if "model_id" in trials else trials["trial_id"]
    repeated = ids[ids.duplicated()].unique()
    if len(repeated):
        raise DataError(f"model(s) {', '.join(map(str, repeated[:5]))} appear more than once in the trials table")


def _with_keys(rows: list[dict], keys: dict[str, Any], **extra: Any) -> pd.DataFrame:
    """``rows`` as a frame with the trial's keys in front, so any table joins any other on them."""
    return pd.DataFrame([{**keys, **row, **extra} for row in rows])


def run_evaluation_stage(store, trials: pd.DataFrame, test_jets, settings: EvaluationSettings = EvaluationSettings(),
                         *, skip_missing: bool = False, spread: bool = True, progress: bool = True,
                         use_ray: bool = True) -> pd.DataFrame:
    """Evaluate every model in ``trials`` not yet in ``store``; return the new ``evaluations`` rows.

    ``trials`` are rows of the trials table (the trial keys and ``model_path``, a file every worker can
    read: shared storage on a cluster, a local path on one machine) — each trial's best model — or the
    rows of :func:`raysym.stages.checkpoints.analysed_models`, which add kept epochs with their
    ``model_id``, ``epoch`` and ``best`` (columns of the rows; the key is ``<model_id>-<settings key>``).
    ``test_jets`` is a ``JetSet`` or its object ref; it goes into the object store once for all tasks.
    Each model is one task (``settings.cpus_per_task`` CPUs; SPREAD over the nodes when ``spread``); as each
    finishes, its ROC rows, its per-jet ``scores`` (with ``settings.keep_scores``) and then its evaluation
    rows (with ``node_id`` and ``settings_key`` columns) are written under key ``<model_id>-<settings.key()>``.
    Evaluations are written last, so their file means the model is complete with these settings and a rerun
    skips it; other settings evaluate it again, beside the old. With ``keep_scores``, a model evaluated
    before without its scores is scored again and only its ``scores`` file is written.
    """
    _check_trials(trials)
    key = settings.key()
    models = trials.to_dict("records")
    evaluated = {model_key(row, key) for row in models if store.has("evaluations", model_key(row, key))}
    todo = [row for row in models if model_key(row, key) not in evaluated
            or (settings.keep_scores and not store.has("scores", model_key(row, key)))]
    if not todo:
        return pd.DataFrame()
    results = fan_out(evaluate_and_score_on_node, todo, argument=lambda trial: str(trial["model_path"]),
                      name=describe,
                      args=(share(test_jets, use_ray), settings, skip_missing),
                      resources={"num_cpus": settings.cpus_per_task}, spread=spread, progress=progress,
                      desc="evaluate", use_ray=use_ray)
    new, rescored = [], 0
    for trial, (rows, roc, scores, node_id) in results:
        keys = {**row_keys(trial), **which_weights(trial)}
        if not rows:  # every task skipped (skip_missing): nothing to store, so a rerun tries again
            continue
        name = model_key(trial, key)
        if scores is not None:
            store.write("scores", scores.assign(**keys, settings_key=key), key=name)
        if name in evaluated:  # only its scores were missing: its evaluation stands as stored
            rescored += 1
            continue
        store.write("roc", _with_keys(roc, keys, settings_key=key), key=name)
        evaluations = _with_keys(rows, keys, node_id=node_id, settings_key=key)
        store.write("evaluations", evaluations, key=name)
        new.append(evaluations)
    if rescored:
        log.info("stored the per-jet scores of %d model(s) evaluated before", rescored)
    return pd.concat(new, ignore_index=True) if new else pd.DataFrame()
