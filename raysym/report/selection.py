"""One study run's rows, picked out of a result store that may hold several studies and several settings.

A store keeps every run of every study side by side (results are identified by their settings). The
``studies`` table records, per run, its configuration and which trials, students and settings keys it
produced; figures and the report show one such run: the newest of a study unless told otherwise. A store
written without that table (by hand, by a test, by an older version) is shown whole, per study.

A study may analyse the weights of several epochs of each trial, not only its best model (docs/methods.md
§6.7): the rows of :data:`EPOCH_TABLES` then carry ``epoch`` (the training epoch of the analysed weights)
and ``best`` (whether those are the trial's best model). :attr:`StudyRun.tables` holds only the best
model's rows, so every figure and number about the trained models means what it always meant;
:attr:`StudyRun.trajectories` holds every analysed epoch. Rows written before epochs were recorded count
as the best model's, at the trial's ``best_epoch``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from raysym.data.tasks import HLS4ML_RECORD, DatasetRecord, TaskSpec
from raysym.errors import ConfigError, DataError
from raysym.stages.analysis_registry import registered
from raysym.store import SCHEMA_VERSION, ResultStore
from raysym.tables import TABLES

#: Tables whose rows belong to a trial of the run, and the settings key (of ``keys_json``) each carries;
#: every registered analysis's table joins them (:func:`_trial_tables`).
_TRIAL_TABLES = {"trials": None, "epochs": None, "evaluations": "evaluation", "roc": "evaluation"}
_STUDENT_TABLES = ("distillation", "students")
#: Tables whose rows may carry ``epoch`` and ``best`` (docs/methods.md §6.7; the spectrum and the Goldstone
#: scan are measured for best models only, but say so too), and every analysis's table.
EPOCH_TABLES = ("evaluations", "roc")


def _trial_tables() -> dict[str, str | None]:
    """:data:`_TRIAL_TABLES` and each registered analysis's table with its key's name."""
    return {**_TRIAL_TABLES, **{spec.table: spec.name for spec in registered()}}


def _epoch_tables() -> tuple[str, ...]:
    return (*EPOCH_TABLES, *(spec.table for spec in registered()))
#: Of those, the tables whose every epoch :attr:`StudyRun.trajectories` keeps.
TRAJECTORY_TABLES = ("hessian", "smearing", "evaluations", "symmetry")


@dataclass
class StudyRun:
    """The rows of one study run, table by table, and what is known about the run."""

    study: str
    tables: dict[str, pd.DataFrame]  # the best model's rows of each trial
    missing: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    data_source: str | None = None
    jets: dict[str, Any] | None = None
    run_key: str | None = None
    #: Every analysed epoch's rows of :data:`TRAJECTORY_TABLES`, with ``epoch`` and ``best`` filled in.
    trajectories: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The run's settings key per analysis (``keys_json`` of the studies table; empty without one).
    keys: dict[str, str] = field(default_factory=dict)
    #: For a look of a sequential study (raysym.study.sequential): every look's rows of the ``rounds``
    #: table, and the α this run's intervals are read at (the family's whole α otherwise).
    rounds: pd.DataFrame | None = None
    alpha: float = 0.05
    #: The data set its jets came from: its classes and its tasks with their roles (``dataset_json`` of the
    #: studies row). A run that recorded none (it has not finished) is taken to be of the data set whose
    #: tasks its rows hold: hls4ml's when they are all hls4ml tasks.
    dataset: DatasetRecord = HLS4ML_RECORD

    def task_title(self, task: str) -> str:
        """How a figure names ``task``: its title and role, or its name for a task the data set lacks."""
        known = {t.name: t for t in self.dataset.tasks}
        return known[task].label if task in known else task

    def has(self, *names: str) -> bool:
        return all(name in self.tables for name in names)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def trajectory(self, name: str) -> pd.DataFrame:
        return self.trajectories[name]

    def has_trajectory(self, *names: str) -> bool:
        """Whether some trial was analysed at more than one epoch, in any of the tables ``names`` (default:
        every table of :data:`TRAJECTORY_TABLES`)."""
        return any(name in self.trajectories and epochs_per_trial(self.trajectories[name]).max() > 1
                   for name in names or TRAJECTORY_TABLES)

    def has_epochs(self, *names: str) -> bool:
        """Whether the tables ``names`` all have rows with their epochs (every analysed epoch's), even if
        only the best epoch was analysed."""
        return all(name in self.trajectories for name in names)


def epochs_per_trial(frame: pd.DataFrame) -> pd.Series:
    """How many distinct epochs each trial of ``frame`` was analysed at."""
    return frame.groupby("trial_id")["epoch"].nunique()


def _study_names(store: ResultStore, tables: list[str]) -> list[str]:
    names = set()
    for table in ("studies", "trials"):
        if table in tables:
            names |= set(store.load(table)["study"])
    return sorted(names)


def select_run(path: str | os.PathLike, study: str | None = None, run_key: str | None = None, *,
               finished_only: bool = False) -> StudyRun:
    """The rows of study ``study`` (default: the store's only study, or the newest run's) in the store at
    ``path``, limited to one run (default: its newest recorded run). A missing or empty store, or an
    unknown study, is a ``DataError`` naming it.

    ``finished_only``: only runs the ``studies`` table records (a run is recorded when it ends), never the
    whole store's rows: while a study is writing to the store, its rows so far are not a result.
    """
    store = ResultStore(path)
    if not store.exists():
        raise DataError(f"result store {store.uri} does not exist")
    if store.schema_version() < SCHEMA_VERSION:
        raise DataError(f"result store {store.uri} was written by an older raysym (schema "
                        f"{store.schema_version()}); run `raysym migrate {store.uri}` first (it keeps a copy of "
                        "the store and says what it changed), or rerun the study, which migrates it")
    present = [t for t in store.tables() if t in TABLES]
    if finished_only and "studies" not in present:
        raise DataError(f"result store {store.uri}: no study run has finished yet")
    if "trials" not in present and "studies" not in present:
        raise DataError(f"result store {store.uri} holds no study (no trials table)")
    runs = store.load("studies") if "studies" in present else pd.DataFrame()
    names = sorted(set(runs["study"])) if finished_only else _study_names(store, present)
    if study is None:
        if len(names) == 1:
            study = names[0]
        elif not runs.empty:
            study = str(runs.sort_values("finished_at").iloc[-1]["study"])
        else:
            raise ConfigError(f"result store {store.uri} holds several studies ({', '.join(names)}); name one")
    if study not in names:
        raise DataError(f"result store {store.uri} has no study {study!r}; it has {', '.join(names) or 'none'}")
    runs = runs[runs["study"] == study] if not runs.empty else runs
    run = None
    if run_key is not None:
        chosen = runs[runs["run_key"] == run_key] if not runs.empty else runs
        if chosen.empty:
            raise DataError(f"study {study!r} has no recorded run {run_key!r}")
        run = chosen.iloc[-1]
    elif not runs.empty:
        run = runs.sort_values("finished_at").iloc[-1]
    selected = _rows(store, present, study, run)
    if run is not None and "rounds" in present:
        selected.rounds, selected.alpha = _rounds(store.load("rounds"), study, run["run_key"], selected.alpha)
    return selected


def _rounds(rounds: pd.DataFrame, study: str, run_key: str, alpha: float) -> tuple[pd.DataFrame | None, float]:
    """The looks of the sequential study whose look ``run_key`` is, and the α of that look; (None,
    ``alpha``) for a run that was not a look."""
    rounds = rounds[rounds["study"] == study]
    mine = rounds[rounds["run_key"] == run_key]
    if mine.empty:
        return None, alpha
    looks = rounds[rounds["sequence"] == mine["sequence"].iloc[-1]].sort_values(["look", "finding"])
    return looks.reset_index(drop=True), float(mine["alpha"].iloc[-1])


def _rows(store: ResultStore, present: list[str], study: str, run) -> StudyRun:
    trial_ids = set(json.loads(run["trial_ids"])) if run is not None else None
    student_ids = set(json.loads(run["student_ids"])) if run is not None else None
    keys = json.loads(run["keys_json"]) if run is not None else {}
    tables, trajectories, missing = {}, {}, []
    trial_tables = _trial_tables()
    for name in [*trial_tables, *_STUDENT_TABLES]:
        if name not in present:
            missing.append(name)
            continue
        frame = store.load(name)
        frame = frame[frame["study"] == study]
        if name in _STUDENT_TABLES and student_ids is not None:
            frame = frame[frame["student_id"].isin(student_ids)]
        elif trial_ids is not None:
            frame = frame[frame["trial_id"].isin(trial_ids)]
        key = keys.get(trial_tables.get(name) or "")
        if key and "settings_key" in frame:
            frame = frame[frame["settings_key"] == key]
        if frame.empty:
            missing.append(name)
            continue
        frame = _with_bias(name, frame)
        if name in _epoch_tables():
            frame = _with_epochs(name, frame)
            if name in TRAJECTORY_TABLES:
                trajectories[name] = frame
            frame = frame[frame["best"]].reset_index(drop=True)
            if frame.empty:
                missing.append(name)
                continue
        tables[name] = frame
    return StudyRun(study, tables, missing,
                    config=json.loads(run["config_json"]) if run is not None else None,
                    data_source=run["data_source"] if run is not None else None,
                    jets=json.loads(run["jets_json"]) if run is not None and isinstance(run.get("jets_json"), str)
                    else None,
                    run_key=run["run_key"] if run is not None else None,
                    trajectories=trajectories, keys=keys, dataset=_dataset(run, tables))


def _dataset(run, tables: dict[str, pd.DataFrame]) -> DatasetRecord:
    """The run's data set record; for a run with no ``studies`` row yet, hls4ml's if its rows hold only
    hls4ml tasks, else a record of the tasks they hold, the trials' task in distribution and no role claimed
    for the others (so no out-of-distribution finding is stated)."""
    if run is not None and isinstance(run.get("dataset_json"), str):
        return DatasetRecord.from_json(run["dataset_json"])
    tasks = set()
    for name in ("trials", "evaluations"):
        if name in tables and "task" in tables[name]:
            tasks |= set(tables[name]["task"].dropna())
    if tasks <= {t.name for t in HLS4ML_RECORD.tasks}:
        return HLS4ML_RECORD
    trained = set(tables["trials"]["task"]) if "trials" in tables else set()
    inside = sorted(trained)[:1] or sorted(tasks)[:1]
    return DatasetRecord("unrecorded", (), tuple(TaskSpec(t, ("signal",), ("background",), "in") for t in inside))


def _with_bias(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows, checked to carry their bias (every writer records it; a store's migration gave it to rows
    written before)."""
    if "bias" not in frame or frame["bias"].isna().any():
        raise DataError(f"table {table}: rows without their bias; the store needs `raysym migrate`")
    return frame.reset_index(drop=True)


def _with_epochs(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``best`` as booleans, checked to carry ``epoch`` and ``best`` (every writer records them
    for an analysed model; a store's migration gave them to rows written before)."""
    if any(c not in frame or frame[c].isna().any() for c in ("epoch", "best")):
        raise DataError(f"table {table}: rows without their epoch or best marker; the store needs `raysym migrate`")
    return frame.assign(best=frame["best"].astype(bool), epoch=frame["epoch"].astype("int64")).reset_index(drop=True)
