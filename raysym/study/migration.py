"""Carry a result store over to the current schema (3) from schema 1 (raysym before the one identity rule,
:mod:`raysym.settings_key`) or schema 2 (before data sets were declarations).

Schema 3 records a run's data set: the jets section of its configuration record names it
(``data.dataset``, and ``data.path`` for what schema 2 called ``hls4ml_dir``), so every run key moved, and
its ``studies`` row holds the data set's classes and tasks (``dataset_json``). Every store before schema 3
read hls4ml-layout jets, so the migration records hls4ml's and renames the run keys; nothing else moves.

Schema 1 keyed results by two rules: a run's key left out fields "added later" while they held their
default, and each analysis key hashed a hand-picked list of fields. Schema 2 hashes every field of a
section but an explicit excluded set, so every key moved: trial and student ids (which end in their
key), the analysis and evaluation keys, the run keys and the store entries and files named after them.
A store written by schema 1 would otherwise be retrained and re-analysed from scratch.

The migration recomputes, for every stored result, its schema-1 key (the old rules, kept here frozen and
checked against the stored ids) and its schema-2 key from the same settings: a trial's and a student's
from the settings in their best-model files, the analysis and evaluation keys from the recorded study
runs (``studies.config_json``). It then replaces each old key by the new one in every stored value, entry
name and model file name, writes the runs' configuration records with every field, fills the ``epoch``,
``best`` and ``bias`` columns of rows written before they existed, and records the schema. A copy of the
store is kept first (``store-schema1-backup`` beside it), and the file renames are listed in it. A result
whose settings no recorded run names (a run interrupted before it finished) keeps its old key: a rerun
recomputes it. Run by a study when it opens an older store, or by ``raysym migrate STORE``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow.fs as pafs

from raysym.analyses.symmetry import DEFAULT_ANGLE_EDGES, DEFAULT_BETA_EDGES
from raysym.artifacts import join, load_torch, write_bytes
from raysym.data.tasks import HLS4ML_RECORD
from raysym.errors import ConfigError, DataError
from raysym.settings_key import keyed_fields, settings_key, unrecorded_fields
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.analysis_registry import analysis_keys
from raysym.stages.evaluation import EvaluationSettings
from raysym.stages.training import SEARCH
from raysym.store import SCHEMA_VERSION, ResultStore
from raysym.study.config import StudyConfig
from raysym.tables import TABLES
from raysym.training.config import Bias, TrainConfig, settings_from_dict

log = logging.getLogger(__name__)

#: Schema 1's fields "added later": left out of its canonical text while they held these values.
V1_ADDED_LATER: dict[str, dict[str, Any]] = {
    "TrainConfig": {"precision": "float32"},
    "DistillConfig": {"precision": "float32"},
    "TransformerConfig": {"jet_axis": "rapidity"},
    "StudyConfig": {"analyse_checkpoints": "best"},
    "AnalysisSettings": {"trace_rel_stderr": None, "trace_max_probes": 1000, "deflation_rank": 32, "symmetry": True,
                         "symmetry_jets": 500, "symmetry_transforms": 2, "symmetry_beta_edges": DEFAULT_BETA_EDGES,
                         "symmetry_angle_edges": DEFAULT_ANGLE_EDGES, "symmetry_factor_bins": 20,
                         "symmetry_seed": 0, "options": {}},
}
#: Schema 3's changes to a run's record: a field of the jets section renamed, and fields added at the value every
#: older store had (the jets' data set; the evaluation's switch for per-jet scores, which no older run kept).
V3_RENAMED: dict[str, dict[str, str]] = {"JetSettings": {"hls4ml_dir": "path"}}
V3_ADDED: dict[str, dict[str, Any]] = {"JetSettings": {"dataset": "hls4ml"},
                                       "EvaluationSettings": {"keep_scores": False}}
_HASH = re.compile(r"(?<![0-9a-f])[0-9a-f]{10}(?![0-9a-f])")
#: The backup of a schema-N store is ``store-schema<N>-backup`` beside it.
BACKUP = "store-schema{version}-backup"


# -- schema 1's keys, frozen ---------------------------------------------------------------------------

def _v1_plain(value: Any) -> Any:
    """Schema 1's plain data of settings: every field but the added-later ones at their old default (and
    those no record holds, such as a study's trackers)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        later, unrecorded = V1_ADDED_LATER.get(type(value).__name__, {}), unrecorded_fields(value)
        return {f.name: _v1_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in unrecorded and not (f.name in later and getattr(value, f.name) == later[f.name])}
    if isinstance(value, dict):
        return {k: _v1_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_v1_plain(v) for v in value)
    return value


def v1_text(value: Any) -> str:
    return json.dumps(_v1_plain(value), sort_keys=True, default=repr, separators=(",", ":"))


def v1_run_key(config, context: str) -> str:
    """Schema 1's key of a teacher's or a student's run."""
    return settings_key(v1_text({**_v1_plain(config), "device": None}), context)


def v1_analysis_keys(s: AnalysisSettings) -> dict[str, str]:
    """Schema 1's analysis keys: hand-picked fields, the added-later ones only away from their default."""
    later = V1_ADDED_LATER["AnalysisSettings"]
    changed = tuple((n, getattr(s, n)) for n in ("trace_rel_stderr", "trace_max_probes", "deflation_rank")
                    if getattr(s, n) != later[n])
    adaptive = (("probes_per_task", s.probes_per_task),) if s.trace_rel_stderr is not None else ()
    hessian = settings_key(s.hessian_backend, s.hessian_jets, s.hessian_batch_size, s.hessian_seed, s.top_k,
                           s.lanczos_steps, s.eigen_restarts, s.trace_probes, s.trace_method, *changed, *adaptive)
    return {"hessian": hessian,
            "goldstone": settings_key(hessian, s.goldstone_eps_max, s.goldstone_points, s.goldstone_jets),
            "smearing": settings_key(tuple(float(x) for x in s.smearing_sigmas), s.smearing_seed),
            "spectrum": settings_key(hessian, s.spectrum_probes, s.spectrum_steps, s.spectrum_points),
            "symmetry": settings_key("symmetry", s.symmetry_jets, s.symmetry_transforms, s.symmetry_beta_edges,
                                     s.symmetry_angle_edges, s.symmetry_factor_bins, s.symmetry_seed)}


def v1_evaluation_key(s: EvaluationSettings) -> str:
    return settings_key(s.tasks, s.batch_size, s.roc_points)


# -- settings read back from a record ------------------------------------------------------------------

def _section(cls, values: dict):
    """A settings section from its recorded fields (lists back to tuples; fields it no longer has dropped)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


def filled_record(values: dict, template: Any) -> dict:
    """A schema-1 configuration record with the fields it left out (added later, at their default) put
    back, section by section: what schema 2 records for the same configuration."""
    out = dict(values)
    kind = type(template).__name__
    for old, new in V3_RENAMED.get(kind, {}).items():
        if old in out:
            out[new] = out.pop(old)
    for name, default in {**V1_ADDED_LATER.get(kind, {}), **V3_ADDED.get(kind, {})}.items():
        out.setdefault(name, keyed_fields(default, keyed=False))
    for f in dataclasses.fields(template):
        inner = getattr(template, f.name)
        if dataclasses.is_dataclass(inner) and isinstance(out.get(f.name), dict):
            out[f.name] = filled_record(out[f.name], inner)
    return out


def _record_json(values: dict) -> str:
    return json.dumps(values, sort_keys=True, default=repr, separators=(",", ":"))


# -- the migration -------------------------------------------------------------------------------------

@dataclass
class Migration:
    """What a migration changed."""

    store: str
    version: int = 1                                        # the schema it was migrated from
    backup: str = ""
    renamed: dict[str, str] = field(default_factory=dict)  # old key -> new key
    kinds: dict[str, int] = field(default_factory=dict)    # how many keys of each kind moved
    entries: int = 0                                        # store files rewritten
    files: int = 0                                          # model and ν1 files renamed
    filled: int = 0                                         # rows given epoch/best/bias
    unmapped: list[str] = field(default_factory=list)       # what kept its old key, and why

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{n} {k}" for k, n in self.kinds.items()) or "none"
        lines = [f"migrated {self.store} from schema {self.version} to schema {SCHEMA_VERSION}",
                 f"  backup of the store: {self.backup}",
                 f"  keys moved: {len(self.renamed)} ({kinds})",
                 f"  store entries rewritten: {self.entries}; model files renamed: {self.files}; "
                 f"rows given epoch/best/bias: {self.filled}"]
        lines += [f"  kept its old key: {u}" for u in self.unmapped]
        return lines


def migrate(path: str, *, backup: bool = True, announce: bool = True) -> Migration | None:
    """Bring the store at ``path`` to the current schema; None when it is current already. A store that
    does not exist is a ``DataError``. ``announce``: log what changed (a study's user sees it)."""
    store = ResultStore(path)
    store.require()
    version = store.schema_version()
    if version >= SCHEMA_VERSION:
        return None
    done = Migration(store.uri, version)
    done.renamed = _key_map(store, done) if version == 1 else _run_key_map(store, done)
    if backup:
        done.backup = _backup(store)
    trials = store.load("trials") if "trials" in store.tables() else pd.DataFrame()
    for table in [t for t in store.tables() if t in TABLES]:
        for file in list(store.checked_files(table)):
            done.entries += _rewrite(store, table, file, done, trials)
    done.files = _rename_files(store, done.renamed, done.backup)
    store.set_schema_version(SCHEMA_VERSION, migrated_from=version)
    for line in done.lines() if announce else ():
        log.warning(line)
    return done


def _count(done: Migration, kind: str, old: str, new: str, renamed: dict[str, str]) -> None:
    if old != new:
        renamed[old] = new
        done.kinds[kind] = done.kinds.get(kind, 0) + 1


def _key_map(store: ResultStore, done: Migration) -> dict[str, str]:
    """Old key -> new key of every trial, student, analysis, evaluation and run the store records."""
    renamed: dict[str, str] = {}
    tables = store.tables()
    runs = store.load("studies") if "studies" in tables else pd.DataFrame()
    data_keys = set(runs["data_key"]) if len(runs) else set()
    trial_ids: dict[str, str] = {}
    if "trials" in tables:
        for _, trial in store.load("trials").drop_duplicates("trial_id").iterrows():
            tid = trial["trial_id"]
            data_key = trial.get("data_key")
            keys = [data_key] if isinstance(data_key, str) else sorted(data_keys)
            config = _run_settings(trial["model_path"])
            if config is None:
                done.unmapped.append(f"trial {tid}: its best-model file {trial['model_path']} cannot be read")
                continue
            # A grid trial's id ends in its key; a searched trial (search-<Tune's id>) records it beside.
            recorded = trial.get("settings_key") if tid.startswith(f"{SEARCH}-") else tid.rsplit("-", 1)[-1]
            match = next((k for k in keys if v1_run_key(config, k) == recorded), None)
            if match is None:
                done.unmapped.append(f"trial {tid}: its settings do not give its recorded key (not written by "
                                     "schema 1)")
                continue
            new = config.settings_key(match)
            _count(done, "trial", recorded, new, renamed)
            trial_ids[tid] = _swap(tid, {recorded: new})
    if "students" in tables:
        for _, student in store.load("students").drop_duplicates("student_id").iterrows():
            sid = student["student_id"]
            teacher = student.get("teacher_trial_id")
            teacher = teacher if isinstance(teacher, str) else sid.rsplit("-d", 1)[0]
            config = _run_settings(student["model_path"])
            old = sid.rsplit("-", 1)[-1]
            if config is None or v1_run_key(config, teacher) != old:
                done.unmapped.append(f"student {sid}: its settings do not give its id's key")
                continue
            _count(done, "student", old, config.settings_key(trial_ids.get(teacher, teacher)), renamed)
    for _, run in runs.iterrows():
        values = json.loads(run["config_json"])
        recorded = json.loads(run["keys_json"])
        analyses = _section(AnalysisSettings, values.get("analyses", {}))
        evaluation = _section(EvaluationSettings, values.get("evaluation", {}))
        old = {**v1_analysis_keys(analyses), "evaluation": v1_evaluation_key(evaluation)}
        new = {**analysis_keys(analyses), "evaluation": evaluation.key()}
        for name, key in recorded.items():
            if name in old and old[name] == key:
                _count(done, name, key, new[name], renamed)
            else:
                done.unmapped.append(f"run {run['run_key']}: its {name} key {key} is not schema 1's")
        experiment = experiment_keys(values, json.loads(run["trial_ids"]), trial_ids, run["data_key"])
        if experiment is not None:
            _count(done, "experiment", *experiment, renamed)
        filled = filled_record(values, StudyConfig(name=values.get("name", "study")))
        _count(done, "run", run["run_key"], settings_key(_record_json(filled), run["data_key"]), renamed)
    return renamed


def _run_key_map(store: ResultStore, done: Migration) -> dict[str, str]:
    """Old run key -> new of a schema-2 store: its records gain the data set (schema 3), nothing else moves."""
    renamed: dict[str, str] = {}
    runs = store.load("studies") if "studies" in store.tables() else pd.DataFrame()
    for _, run in runs.iterrows():
        values = json.loads(run["config_json"])
        filled = filled_record(values, StudyConfig(name=values.get("name", "study")))
        _count(done, "run", run["run_key"], settings_key(_record_json(filled), run["data_key"]), renamed)
    return renamed


def experiment_keys(values: dict, run_trials: list[str], trial_ids: dict[str, str], data_key: str):
    """(old, new) key of the Tune experiment of a recorded run (raysym.stages.training.experiment_name),
    which the ``trials`` table's ``experiment`` names: a grid's is a hash of its trial ids, a search's of its
    base trial's key and the search space. None where the record does not say (an older record). A search is
    given the name searches had while ASHA ranked trials on the validation objective, as these did; today's
    searches rank on the validation BCE and carry that in their name, so they are other experiments."""
    search = values.get("training", {}).get("search")
    if search is None:
        if not run_trials:
            return None
        return (settings_key(*sorted(run_trials)), settings_key(*sorted(trial_ids.get(t, t) for t in run_trials)))
    try:
        recipe = _section(TrainConfig, values["recipe"])
        model = search["model"]
        base = recipe.for_trial(Bias(model, search["penalty"], search["lam_range"][0]), values["seeds"][0],
                                values.get("model_options", {}).get(model, {}))
    except (KeyError, TypeError, ValueError, ConfigError):
        return None
    space = json.dumps(search, sort_keys=True, default=repr, separators=(",", ":"))
    return settings_key(v1_run_key(base, data_key), space), settings_key(base.settings_key(data_key), space)


def _run_settings(model_path: str):
    """A run's settings from its best-model file, or None when the file cannot be read."""
    try:
        saved = load_torch(model_path, "best-model file")
        return settings_from_dict(saved["config"], saved.get("settings", "training"))
    except (DataError, KeyError, TypeError):
        return None


def _swap(value: Any, renamed: dict[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    return _HASH.sub(lambda m: renamed.get(m.group(0), m.group(0)), value)


def _rewrite(store: ResultStore, table: str, file: str, done: Migration, trials: pd.DataFrame) -> int:
    """One store entry under its new key with its values' keys replaced and its missing columns filled;
    returns 1 when it changed."""
    frame = store.read_file(table, file)
    before = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: _swap(v, done.renamed))
    if table == "studies":
        frame["config_json"] = [_record_json(filled_record(json.loads(text), StudyConfig(name=name)))
                                for text, name in zip(before["config_json"], before["study"])]
        frame["keys_json"] = [json.dumps(json.loads(text), sort_keys=True) for text in frame["keys_json"]]
        if "dataset_json" not in frame:  # every store before schema 3 read hls4ml-layout jets
            frame["dataset_json"] = HLS4ML_RECORD.to_json()
    if TABLES[table].per_trial:
        frame, filled = _fill_rows(table, frame, trials)
        done.filled += filled
        if filled:
            log.info("%s: %d rows of %s given epoch/best/bias", table, filled, file)
    old_key = posixpath.basename(file)[: -len(".parquet")]
    new_key = _swap(old_key, done.renamed)
    if new_key == old_key and frame.equals(before):
        return 0
    store.write(table, frame, new_key)
    if new_key != old_key:
        store.fs.delete_file(file)
    return 1


def _fill_rows(table: str, frame: pd.DataFrame, trials: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows written before ``bias`` (and, in the tables of analysed models, ``epoch`` and ``best``) were
    recorded get them: the trial's bias, and best model at the trial's best epoch (all an older version
    analysed)."""
    filled = pd.Series(False, index=frame.index)
    if "bias" not in frame or frame["bias"].isna().any():
        missing = frame["bias"].isna() if "bias" in frame else pd.Series(True, index=frame.index)
        labels = pd.Series([m if p == "none" else f"{m}-{p}-{lam:g}"
                            for m, p, lam in zip(frame["model"], frame["penalty"], frame["lam"])], index=frame.index)
        if len(trials) and "bias" in trials:
            by_trial = trials.drop_duplicates("trial_id").set_index("trial_id")["bias"]
            labels = frame["trial_id"].map(by_trial).fillna(labels)
        frame["bias"] = frame["bias"].where(~missing, labels) if "bias" in frame else labels
        filled |= missing
    if "best" in TABLES[table].types and ("best" not in frame or frame["best"].isna().any()):
        implied = frame["best"].isna() if "best" in frame else pd.Series(True, index=frame.index)
        best_epoch = frame["trial_id"].map(trials.drop_duplicates("trial_id").set_index("trial_id")["best_epoch"]) \
            if len(trials) else pd.Series(float("nan"), index=frame.index)
        epoch = frame["epoch"] if "epoch" in frame else pd.Series(float("nan"), index=frame.index)
        frame["epoch"] = epoch.where(~implied | epoch.notna(), best_epoch)
        if frame["epoch"].notna().all():
            frame["epoch"] = frame["epoch"].astype("int64")
        frame["best"] = (frame["best"].where(~implied, True) if "best" in frame else implied).astype(bool)
        filled |= implied
    return frame, int(filled.sum())


def _backup(store: ResultStore) -> str:
    """A copy of every file of the store in ``store-schema<N>-backup`` beside it (a numbered name when that
    is taken); returns its location."""
    name = BACKUP.format(version=store.schema_version())
    target = join(store.home, name)
    n = 1
    while store.fs.get_file_info(_fs_path(store, target)).type != pafs.FileType.NotFound:
        n += 1
        target = join(store.home, f"{name}-{n}")
    root = _fs_path(store, target)
    for info in store.fs.get_file_info(pafs.FileSelector(store.root, recursive=True)):
        if info.type == pafs.FileType.File:
            copy = root + info.path[len(store.root):]
            store.fs.create_dir(posixpath.dirname(copy), recursive=True)
            store.fs.copy_file(info.path, copy)
    return target


def _fs_path(store: ResultStore, location: str) -> str:
    """``location`` as a path of the store's filesystem (beside the store's root)."""
    return posixpath.join(posixpath.dirname(store.root), posixpath.basename(str(location).rstrip("/")))


def _rename_files(store: ResultStore, renamed: dict[str, str], backup: str) -> int:
    """Rename the study's files (best models, kept epochs, ν1, deflations, logits) whose names hold an old
    key; the list of renames goes into the backup folder."""
    models = posixpath.join(posixpath.dirname(store.root), "models")
    moved = []
    if store.fs.get_file_info(models).type != pafs.FileType.Directory:
        return 0
    for info in store.fs.get_file_info(pafs.FileSelector(models, recursive=True)):
        if info.type != pafs.FileType.File:
            continue
        name = _swap(info.base_name, renamed)
        if name != info.base_name:
            target = posixpath.join(posixpath.dirname(info.path), name)
            store.fs.move(info.path, target)
            moved.append([info.path, target])
    if backup:
        write_bytes(join(backup, "renamed_files.json"), json.dumps({"keys": renamed, "files": moved}, indent=1).encode())
    return len(moved)



def run(args) -> int:
    """``raysym migrate STORE``: migrate and say what changed (or that the store is current)."""
    done = migrate(args.store, backup=not args.no_backup, announce=False)
    if done is None:
        print(f"{args.store}: schema {ResultStore(args.store).schema_version()}, current; nothing to do")
    else:
        print("\n".join(done.lines()))
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "migrate", help="bring a result store written by an older raysym to the current keys (keeps a backup)",
        description="Bring a result store to the current schema: every stored result under the key today's "
                    "raysym gives it, so a rerun of its studies redoes nothing. A copy of the store is kept "
                    "beside it first. Studies migrate the store they open themselves; this does it ahead.")
    parser.add_argument("store", help="result store directory or URI (a study's <out>/store)")
    parser.add_argument("--no-backup", action="store_true", help="do not copy the store first")
    parser.set_defaults(func=run)
