"""Stage 4 of a study, compressibility (Glowacki §3.5, §4.4, Fig. 9; docs/methods.md §6.5): every teacher
distilled into one fixed student, as a second Tune run.

One Tune trial per (teacher, student seed), with the same guarantees as the training stage (a checkpoint
every epoch, ``FailureConfig`` retries, ``Tuner.restore``; :mod:`raysym.stages.tune_trials`). Teachers are
every finished trial of the current run by default — a seed band on compressibility, which the paper
does not have — or the lowest-validation-loss trial of each bias (``teachers="best"``, the paper's
protocol). Each teacher's logits on the training and validation jets are computed once, as a fan-out task,
and kept beside its model file (``<trial>.logits-<key>.npz``); the trials get them through the object
store. A student's id is ``<teacher trial>-d<seed>-<key>``, the key covering the whole recipe and the
teacher, so a changed recipe trains new students beside the old ones.

Tables: ``distillation`` (one row per student epoch, epoch 0 being the untrained student) and
``students`` (one row per student: final and best val MSE, and its own test-set accuracy and ROC-AUC on
every evaluation task), both with the teacher's trial keys plus ``student_seed``, so they join ``trials``.
The students row is written last: it means the student is complete, and a rerun skips it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from ray import tune

from raysym.artifacts import exists, join, read_bytes, sibling, write_bytes
from raysym.data.jetset import JetSet, TaskJets
from raysym.errors import ConfigError, DataError
from raysym.fanout import fan_out, share
from raysym.models.registry import count_parameters
from raysym.settings_key import settings_key
from raysym.stages.evaluation import EvaluationSettings, evaluate_on_node
from raysym.stages.training import TrainingSettings
from raysym.stages.tune_trials import (
    base_space,
    build_tuner,
    epoch_reporter,
    finished_checkpoints,
    fit,
    grid_space,
    restored_checkpoint,
    trial_id_of,
)
from raysym.store import ResultStore, row_keys
from raysym.training.checkpoint import best_value, save_best_model
from raysym.training.distill import DistillConfig, distill, teacher_logits

log = logging.getLogger(__name__)

TEACHER_CHOICES = ("all", "best")


@dataclass(frozen=True)
class DistillationSettings:
    """Which teachers are distilled, with how many student seeds, by which fixed ``recipe``.

    The recipe's student sizes come from its preset, overridden by the study's ``model_options`` for
    the student's model kind; its seed is replaced by each of ``student_seeds``.
    """

    enabled: bool = True
    teachers: str = "all"
    student_seeds: tuple[int, ...] = (0,)
    recipe: DistillConfig = DistillConfig()

    def __post_init__(self) -> None:
        if self.teachers not in TEACHER_CHOICES:
            raise ConfigError(f"distillation teachers must be 'all' or 'best', got {self.teachers!r}")
        seeds = (self.student_seeds,) if isinstance(self.student_seeds, int) else tuple(self.student_seeds)
        if not seeds or len(set(seeds)) != len(seeds):
            raise ConfigError(f"student seeds must be distinct and at least one, got {list(seeds)}")
        object.__setattr__(self, "student_seeds", seeds)
        if not isinstance(self.recipe, DistillConfig):
            raise ConfigError(f"the distillation recipe must be a DistillConfig, got {type(self.recipe).__name__}")

    def students(self, model_options: Mapping[str, Any], task: str = "g_vs_w",
                 device: str = "cpu") -> dict[int, DistillConfig]:
        """The recipe for each student seed, on the teachers' ``task``, with the study's sizes for the
        student's kind (checked)."""
        options = {**self.recipe.model_options, **model_options.get(self.recipe.model, {})}
        return {seed: dataclasses.replace(self.recipe, seed=seed, model_options=options, task=task, device=device)
                for seed in self.student_seeds}


@dataclass(frozen=True)
class Student:
    """One planned student: its id, its recipe and the teacher (a trials-table row) it learns from."""

    student_id: str
    config: DistillConfig
    teacher: Mapping[str, Any] = field(hash=False, compare=False)

    @property
    def settings_key(self) -> str:
        """The key of the recipe and the teacher (the last part of the id)."""
        return self.config.settings_key(str(self.teacher["trial_id"]))

    def keys(self) -> dict[str, Any]:
        """What every row about this student starts with: its teacher's trial keys, its id and seed."""
        return {**row_keys(self.teacher), "student_id": self.student_id, "student_seed": self.config.seed,
                "settings_key": self.settings_key}


def select_teachers(trials: pd.DataFrame, which: str) -> pd.DataFrame:
    """The teachers to distil: every trial, or the lowest-best-validation-loss trial of each bias."""
    if trials.empty:
        raise DataError("no finished teacher to distil: the study has no trained trial with these settings "
                        "(did every training trial fail?)")
    if which == "all":
        return trials
    best = trials.sort_values(["best_val_loss", "trial_id"]).groupby("bias", sort=True).head(1)
    return best.sort_values("trial_id")


def plan_students(teachers: pd.DataFrame, settings: DistillationSettings, model_options: Mapping[str, Any],
                  task: str = "g_vs_w", device: str = "cpu") -> list[Student]:
    """Every (teacher, student seed) of the stage, with its id ``<teacher>-d<seed>-<key>``."""
    students = []
    for teacher in teachers.to_dict("records"):
        for seed, config in settings.students(model_options, task, device).items():
            key = config.settings_key(str(teacher["trial_id"]))
            students.append(Student(f"{teacher['trial_id']}-d{seed}-{key}", config, teacher))
    return students


# -- teacher logits --------------------------------------------------------------------------------------


def logits_path(teacher: Mapping[str, Any], data_key: str) -> str:
    """Beside the teacher's model file: its logits on the split the jets with ``data_key`` make."""
    return sibling(teacher["model_path"], f"{teacher['trial_id']}.logits-{data_key}.npz")


def all_teacher_logits(teachers: list[Mapping[str, Any]], data: dict[str, TaskJets], data_key: str,
                       settings: EvaluationSettings, *, progress: bool, use_ray: bool) -> dict[str, dict]:
    """Every teacher's logits on train and val: read from beside its model, or computed once (one fan-out
    task per teacher) and kept there."""
    found, todo = {}, []
    for teacher in teachers:
        path = logits_path(teacher, data_key)
        if exists(path):
            with np.load(io.BytesIO(read_bytes(path, "teacher logits"))) as saved:
                found[teacher["trial_id"]] = {split: saved[split] for split in ("train", "val")}
        else:
            todo.append(teacher)
    shared = share(data, use_ray and bool(todo))
    for teacher, logits in fan_out(teacher_logits, todo, argument=lambda t: str(t["model_path"]),
                                   name=lambda t: f"teacher {t['trial_id']}", args=(shared, settings.batch_size),
                                   resources={"num_cpus": settings.cpus_per_task}, progress=progress,
                                   desc="teacher logits", use_ray=use_ray):
        buffer = io.BytesIO()
        np.savez(buffer, **logits)
        write_bytes(logits_path(teacher, data_key), buffer.getvalue())
        found[teacher["trial_id"]] = logits
    return found


# -- the Tune run ----------------------------------------------------------------------------------------


def distill_trial(config: dict[str, Any], data: dict[str, TaskJets], students: Mapping[str, tuple[DistillConfig, str]],
                  logits: Mapping[str, dict[str, np.ndarray]]) -> None:
    """One Tune trial: the student whose id the trial's config holds learns its teacher's logits, resumably."""
    torch.set_num_threads(max(1, int(config.get("threads", 1))))
    student_id = trial_id_of(config, None)
    recipe, teacher = students[student_id]
    report = epoch_reporter(config, student_id)
    distill(recipe, data, logits[teacher], checkpoint=restored_checkpoint(report), report=report)


def student_hyperparameters(student: Student) -> dict[str, Any]:
    """What a distillation trial compares, as Tune's config shows it to its loggers: its ``name`` (the
    student's id without its key: the teacher's id and the student seed), the student's settings ``key``,
    its teacher and recipe."""
    teacher, recipe = student.teacher, student.config
    return {"name": student.student_id.rpartition("-")[0], "key": student.settings_key,
            "teacher": str(teacher["trial_id"]), "bias": str(teacher["bias"]), "teacher_seed": int(teacher["seed"]),
            "model": recipe.model, "model_preset": recipe.model_preset, "seed": recipe.seed, "lr": recipe.lr,
            "epochs": recipe.epochs, "batch_size": recipe.batch_size, "precision": recipe.precision}


def distillation_tuner(name: str, students: list[Student], training: TrainingSettings, data: dict[str, TaskJets],
                       logits: dict[str, dict], out_dir: str | os.PathLike, verbose: int = 1,
                       callbacks: Sequence[tune.Callback] = ()) -> tune.Tuner:
    """The Tuner of experiment ``name``: a grid over the student ids with their hyperparameters, ranked
    by validation MSE (the one objective every student shares)."""
    space = grid_space({s.student_id: student_hyperparameters(s) for s in students}, base_space(training, out_dir))
    plan = {s.student_id: (s.config, str(s.teacher["trial_id"])) for s in students}
    needed = {teacher for _, teacher in plan.values()}
    return build_tuner(name, distill_trial, space, training, out_dir,
                       tune_config=tune.TuneConfig(metric="val_mse", mode="min"), verbose=verbose,
                       callbacks=callbacks, data=data, students=plan, logits={t: logits[t] for t in needed})


# -- into the store --------------------------------------------------------------------------------------


def store_epochs(store: ResultStore, student: Student, checkpoint: dict[str, Any], models_dir: str) -> str:
    """The student's best-model file (at the location ``models_dir``) and its ``distillation`` rows;
    returns the model file's location."""
    location = save_best_model(checkpoint, join(models_dir, f"{student.student_id}.pt"))
    store.write("distillation", [{**student.keys(), **row} for row in checkpoint["history"]], key=student.student_id)
    return location


def student_row(student: Student, checkpoint: dict[str, Any], model_path: str,
                evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``students`` row: the MSE record of the run and the student's own test-set performance."""
    history = checkpoint["history"]
    row = {**student.keys(), "teacher_trial_id": str(student.teacher["trial_id"]),
           "final_val_mse": float(history[-1]["val_mse"]),
           "best_val_mse": best_value(checkpoint["best"])[1], "best_epoch": int(checkpoint["best"]["epoch"]),
           "epochs": int(checkpoint["epoch"]), "n_parameters": count_parameters(student.config.build_model()),
           "model_path": model_path, "student_model": student.config.model,
           "student_preset": student.config.model_preset}
    for evaluation in evaluations:
        row[f"accuracy_{evaluation['task']}"] = evaluation["accuracy"]
        row[f"roc_auc_{evaluation['task']}"] = evaluation["roc_auc"]
    return row


@dataclass
class DistillationOutcome:
    """What the stage did: students trained, students of the current settings, failed trials."""

    trained: int = 0
    student_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_distillation_stage(store: ResultStore, name: str, teachers: pd.DataFrame, settings: DistillationSettings,
                           model_options: Mapping[str, Any], training: TrainingSettings,
                           data: dict[str, TaskJets], data_key: str, test_jets: JetSet,
                           evaluation: EvaluationSettings, out_dir: str | os.PathLike, *, verbose: int = 1,
                           progress: bool = True, use_ray: bool = True,
                           callbacks: Sequence[tune.Callback] = ()) -> DistillationOutcome:
    """Distil every chosen teacher of study ``name`` that lacks a student with these settings.

    ``teachers`` are the current run's rows of the trials table. Students already in the ``students``
    table are skipped; the rest train as one Tune run (named by the students it trains, so a rerun
    restores it), then each new student is evaluated on the test jets of every task (one fan-out task
    each) and its ``students`` row written last.
    """
    outcome = DistillationOutcome()
    if not settings.enabled:
        return outcome
    students = plan_students(select_teachers(teachers, settings.teachers), settings, model_options,
                             data["train"].task, training.device)
    outcome.student_ids = [s.student_id for s in students]
    todo = [s for s in students if not store.has("students", s.student_id)]
    if not todo:
        return outcome
    teachers_needed = list({str(s.teacher["trial_id"]): s.teacher for s in todo}.values())
    logits = all_teacher_logits(teachers_needed, data, data_key, evaluation, progress=progress, use_ray=use_ray)
    experiment = f"{name}-distill-{settings_key(*sorted(s.student_id for s in todo))}"
    tuner = distillation_tuner(experiment, todo, training, data, logits, out_dir, verbose=verbose, callbacks=callbacks)
    results = fit(tuner, "distillation")
    finished, outcome.errors = finished_checkpoints(results)
    by_id = {s.student_id: s for s in todo}
    trained = {sid: (by_id[sid], checkpoint, store_epochs(store, by_id[sid], checkpoint, join(out_dir, "models")))
               for sid, checkpoint in finished if sid in by_id}
    shared = share(test_jets, use_ray and bool(trained))
    for sid, (rows, _, _) in fan_out(evaluate_on_node, list(trained), argument=lambda sid: trained[sid][2],
                                     name=lambda sid: f"student {sid}", args=(shared, evaluation, False),
                                     resources={"num_cpus": evaluation.cpus_per_task}, progress=progress,
                                     desc="evaluate students", use_ray=use_ray):
        student, checkpoint, model_path = trained[sid]
        store.write("students", [student_row(student, checkpoint, model_path, rows)], key=sid)
        outcome.trained += 1
    for message in outcome.errors:
        log.error("distillation trial failed: %s", message)
    return outcome
