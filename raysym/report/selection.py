"""One study run's rows, picked out of a result store that may hold several studies and several settings.

A store keeps every run of every study side by side (results are identified by their settings). The
``studies`` table records, per run, its configuration and which trials, students and settings keys it
produced; figures and the report show one such run: the newest of a study unless told otherwise. A store
written without that table (by hand, by a test, by an older version) is shown whole, per study.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from raysym.errors import ConfigError, DataError
from raysym.store import ResultStore
from raysym.tables import TABLES

#: Tables whose rows belong to a trial of the run, and the settings key (of ``keys_json``) each carries.
_TRIAL_TABLES = {"trials": None, "epochs": None, "evaluations": "evaluation", "roc": "evaluation",
                 "hessian": "hessian", "spectrum": "spectrum", "goldstone": "goldstone", "smearing": "smearing"}
_STUDENT_TABLES = ("distillation", "students")


@dataclass
class StudyRun:
    """The rows of one study run, table by table, and what is known about the run."""

    study: str
    tables: dict[str, pd.DataFrame]
    missing: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None
    data_source: str | None = None
    jets: dict[str, Any] | None = None
    run_key: str | None = None

    def has(self, *names: str) -> bool:
        return all(name in self.tables for name in names)

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _study_names(store: ResultStore, tables: list[str]) -> list[str]:
    names = set()
    for table in ("studies", "trials"):
        if table in tables:
            names |= set(store.load(table)["study"])
    return sorted(names)


def select_run(path: str | os.PathLike, study: str | None = None, run_key: str | None = None) -> StudyRun:
    """The rows of study ``study`` (default: the store's only study, or the newest run's) in the store at
    ``path``, limited to one run (default: its newest recorded run). A missing or empty store, or an
    unknown study, is a ``DataError`` naming it."""
    store = ResultStore(path)
    if not store.exists():
        raise DataError(f"result store {store.uri} does not exist")
    present = [t for t in store.tables() if t in TABLES]
    if "trials" not in present and "studies" not in present:
        raise DataError(f"result store {store.uri} holds no study (no trials table)")
    runs = store.load("studies") if "studies" in present else pd.DataFrame()
    names = _study_names(store, present)
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
    return _rows(store, present, study, run)


def _rows(store: ResultStore, present: list[str], study: str, run) -> StudyRun:
    trial_ids = set(json.loads(run["trial_ids"])) if run is not None else None
    student_ids = set(json.loads(run["student_ids"])) if run is not None else None
    keys = json.loads(run["keys_json"]) if run is not None else {}
    tables, missing = {}, []
    for name in [*_TRIAL_TABLES, *_STUDENT_TABLES]:
        if name not in present:
            missing.append(name)
            continue
        frame = store.load(name)
        frame = frame[frame["study"] == study]
        if name in _STUDENT_TABLES and student_ids is not None:
            frame = frame[frame["student_id"].isin(student_ids)]
        elif trial_ids is not None:
            frame = frame[frame["trial_id"].isin(trial_ids)]
        key = keys.get(_TRIAL_TABLES.get(name) or "")
        if key and "settings_key" in frame:
            frame = frame[frame["settings_key"] == key]
        if frame.empty:
            missing.append(name)
        else:
            tables[name] = _with_bias(frame, tables.get("trials"))
    return StudyRun(study, tables, missing,
                    config=json.loads(run["config_json"]) if run is not None else None,
                    data_source=run["data_source"] if run is not None else None,
                    jets=json.loads(run["jets_json"]) if run is not None and isinstance(run.get("jets_json"), str)
                    else None,
                    run_key=run["run_key"] if run is not None else None)


def _with_bias(frame: pd.DataFrame, trials: pd.DataFrame | None) -> pd.DataFrame:
    """Every row labelled with its trial's bias (from ``trials`` when the table lacks the column)."""
    if "bias" in frame and frame["bias"].notna().all():
        return frame.reset_index(drop=True)
    if trials is None or "bias" not in trials:
        labels = [model if penalty == "none" else f"{model}-{penalty}-{lam:g}"
                  for model, penalty, lam in zip(frame["model"], frame["penalty"], frame["lam"])]
        return frame.assign(bias=labels).reset_index(drop=True)
    merged = frame.drop(columns=["bias"], errors="ignore").merge(trials[["trial_id", "bias"]], on="trial_id",
                                                                 how="left")
    return merged.reset_index(drop=True)
