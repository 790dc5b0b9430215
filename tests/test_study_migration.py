"""A store written by the code before the one identity rule (schema 1: tests/data/v1_study, made by commit
15367d9), or before data sets were declarations (schema 2: tests/data/v2_study, made by commit 8a38186), is
migrated once — by the study that opens it or by ``raysym migrate`` — and its rerun redoes nothing: not a
trial, an evaluation, an analysis or a student."""

import json
import shutil
from pathlib import Path

import pytest

from raysym.artifacts import upload_tree
from raysym.cli import main
from raysym.errors import DataError
from raysym.report.selection import select_run
from raysym.store import SCHEMA_VERSION, ResultStore
from raysym.settings_key import canonical, settings_key
from raysym.stages.training import SEARCH, SearchSpace, experiment_name
from raysym.study.migration import BACKUP as BACKUPS, experiment_keys, migrate, v1_run_key, v1_text
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke
from raysym.data.tasks import HLS4ML_RECORD, DatasetRecord
from raysym.settings_key import record_text

BACKUP = BACKUPS.format(version=1)

FIXTURE = Path(__file__).parent / "data" / "v1_study"
DATA_KEY = "c5efd626c2"  # the fixture jets' key: a content hash, the same in both schemas
OLD_TRIALS = ["teacher-s0-fc24b57804", "teacher-seal-0.1-s0-b87e992b0c"]


@pytest.fixture
def old_study(tmp_path):
    """A copy of the schema-1 study's output folder and its jets (a run writes into both)."""
    shutil.copytree(FIXTURE / "out", tmp_path / "out")
    shutil.copytree(FIXTURE / "jets", tmp_path / "jets")
    return tmp_path


def config_of(folder):
    """The fixture study's configuration, reading the copy's jets."""
    return smoke(preset("quick")).with_overrides(name="v1", data={"path": str(folder / "jets")},
                                                 analyse_checkpoints="every:1")


def test_a_schema_1_store_is_migrated_by_its_study_and_the_rerun_redoes_nothing(ray_local, old_study):
    config = config_of(old_study)
    outcome = run_study(config, old_study / "out", verbose=0, progress=False)
    assert outcome.migration is not None and not outcome.errors
    assert (outcome.trained, outcome.evaluated, outcome.distilled) == (0, 0, 0)
    assert set(outcome.analysed.values()) == {0}
    store = ResultStore(outcome.store_path)
    assert store.schema_version() == SCHEMA_VERSION
    trials = store.load("trials")
    assert sorted(trials["trial_id"]) == sorted(config.trials(DATA_KEY)) == sorted(outcome.trial_ids)
    assert all(Path(p).is_file() for p in trials["model_path"])  # the files moved with their ids
    assert sorted(store.load("students")["student_id"]) == sorted(outcome.student_ids)
    run = select_run(outcome.store_path, "v1", outcome.run_key)
    assert run.has("hessian", "goldstone", "smearing", "symmetry", "spectrum", "evaluations", "students")
    assert run.has_trajectory("hessian") and run.keys["hessian"] == run.table("hessian")["settings_key"].iloc[0]
    files = {p: p.stat().st_mtime_ns for p in (old_study / "out" / "store").rglob("*.parquet")}
    again = run_study(config, old_study / "out", verbose=0, progress=False)
    assert again.migration is None and (again.trained, again.evaluated, again.distilled) == (0, 0, 0)
    assert {p: p.stat().st_mtime_ns for p in (old_study / "out" / "store").rglob("*.parquet")} == files


def test_the_migration_keeps_a_backup_lists_its_renames_and_is_done_once(old_study):
    store = old_study / "out" / "store"
    before = {p.relative_to(store): p.read_bytes() for p in store.rglob("*") if p.is_file()}
    done = migrate(str(store), announce=False)
    assert done.kinds == {"trial": 2, "student": 2, "evaluation": 1, "hessian": 1, "goldstone": 1, "smearing": 1,
                          "spectrum": 1, "symmetry": 1, "experiment": 1, "run": 1} and not done.unmapped
    backup = old_study / "out" / BACKUP
    assert {p.relative_to(backup): p.read_bytes() for p in backup.rglob("*.parquet")} == before
    listed = json.loads((backup / "renamed_files.json").read_text())
    assert len(listed["files"]) == done.files == 18 and set(listed["keys"]) >= {t[-10:] for t in OLD_TRIALS}
    assert not any(t in str(p) for p in (old_study / "out").rglob("*") if BACKUP not in str(p) for t in OLD_TRIALS)
    evaluations = ResultStore(str(store)).load("evaluations")  # written without their bias: filled in
    assert evaluations["bias"].notna().all() and evaluations["best"].notna().all()
    after = {p: p.read_bytes() for p in store.rglob("*.parquet")}
    assert migrate(str(store)) is None and {p: p.read_bytes() for p in store.rglob("*.parquet")} == after


def test_raysym_migrate_says_what_it_changed_and_then_that_nothing_is_left(old_study, capsys):
    store = str(old_study / "out" / "store")
    assert main(["migrate", store]) == 0
    out = capsys.readouterr().out
    assert "from schema 1 to schema 3" in out and "keys moved: 12 (2 trial, 2 student" in out and BACKUP in out
    assert main(["migrate", store]) == 0
    assert "current; nothing to do" in capsys.readouterr().out
    assert main(["migrate", str(old_study / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_trial_whose_settings_cannot_be_read_keeps_its_old_key_and_is_named(old_study):
    (old_study / "out" / "models" / f"{OLD_TRIALS[0]}.pt").write_bytes(b"not a model")
    done = migrate(str(old_study / "out" / "store"), announce=False)
    assert [u for u in done.unmapped if u.startswith("trial")] == \
        [f"trial {OLD_TRIALS[0]}: its best-model file {old_study / 'out' / 'models' / OLD_TRIALS[0]}.pt cannot be read"]
    assert OLD_TRIALS[0] in set(ResultStore(str(old_study / "out" / "store")).load("trials")["trial_id"])


def test_a_store_in_a_bucket_migrates_to_the_same_keys_as_on_disk(s3, old_study):
    remote = f"s3://{s3.bucket()}/v1/out"
    upload_tree(old_study / "out", remote)
    done = migrate(f"{remote}/store", announce=False)
    local = migrate(str(old_study / "out" / "store"), announce=False)
    assert done.renamed == local.renamed and done.files == local.files == 18
    trials = ResultStore(f"{remote}/store").load("trials")
    assert sorted(trials["trial_id"]) == sorted(config_of(old_study).trials(DATA_KEY))


def test_a_new_store_records_the_current_schema_and_a_missing_one_is_an_error(tmp_path):
    assert ResultStore(tmp_path / "store").create().schema_version() == SCHEMA_VERSION
    assert migrate(str(tmp_path / "store")) is None
    with pytest.raises(DataError, match="does not exist"):
        migrate(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("search", [False, True])
def test_a_runs_tune_experiment_is_renamed_to_the_name_todays_code_gives_it(search):
    """The trials table names the Tune experiment of each trial; a search study finds its trials by it."""
    config = preset("lambda-scan") if not search else preset("quick").with_overrides(
        training={"search": SearchSpace(num_samples=2)})
    planned = config.trials(DATA_KEY)
    old_ids = sorted(f"{tid[:-10]}{v1_run_key(trial, DATA_KEY)}" for tid, trial in planned.items())
    renamed = dict(zip(old_ids, sorted(planned)))
    old, new = experiment_keys(json.loads(v1_text(config)), [] if search else old_ids, renamed, DATA_KEY)
    today = experiment_name(config.name, planned, config.training, DATA_KEY)
    if search:
        base = planned[SEARCH]
        assert old == settings_key(v1_run_key(base, DATA_KEY), canonical(config.training.search))
        # Renamed as searches were named while ASHA ranked them on the validation objective; today's searches
        # rank on the BCE and are other experiments, so a rerun trains a new search beside the migrated one.
        assert new == settings_key(base.settings_key(DATA_KEY), canonical(config.training.search))
        assert not today.endswith(f"-{new}")
    else:
        assert today.endswith(f"-{new}")
        assert old == settings_key(*old_ids) != new


V2_FIXTURE = Path(__file__).parent / "data" / "v2_study"
V2_TRIALS = ["teacher-s0-0a58ea9d87", "teacher-seal-0.1-s0-3cf1f31285"]


def test_a_schema_2_store_records_its_data_set_only_its_run_key_moves_and_the_rerun_redoes_nothing(ray_local,
                                                                                                  tmp_path):
    shutil.copytree(V2_FIXTURE / "out", tmp_path / "out")
    shutil.copytree(V2_FIXTURE / "jets", tmp_path / "jets")
    store = tmp_path / "out" / "store"
    before = {p.relative_to(store): p.read_bytes() for p in store.rglob("*.parquet")}
    done = migrate(str(store), announce=False)
    assert done.version == 2 and done.kinds == {"run": 1} and done.files == 0 and not done.unmapped
    assert "from schema 2 to schema 3" in done.lines()[0]
    backup = tmp_path / "out" / BACKUPS.format(version=2)
    assert {p.relative_to(backup): p.read_bytes() for p in backup.rglob("*.parquet")} == before
    row = ResultStore(str(store)).load("studies").iloc[0]
    data = json.loads(row["config_json"])["data"]
    assert data["dataset"] == "hls4ml" and data["path"] == "/tmp/v2fixture/jets" and "hls4ml_dir" not in data
    assert DatasetRecord.from_json(row["dataset_json"]) == HLS4ML_RECORD
    recorded = smoke(preset("quick")).with_overrides(name="v2", data={"path": "/tmp/v2fixture/jets"},
                                                     analyse_checkpoints="every:1")
    assert row["run_key"] == settings_key(record_text(recorded), DATA_KEY)  # today's rule, today's record
    per_trial = [p for p in before if p.parts[0] != "studies"]
    assert all((store / p).read_bytes() == before[p] for p in per_trial)  # no result moved
    outcome = run_study(recorded.with_overrides(data={"path": str(tmp_path / "jets")}), tmp_path / "out",
                        verbose=0, progress=False)
    assert outcome.migration is None and not outcome.errors
    assert (outcome.trained, outcome.evaluated, outcome.distilled) == (0, 0, 0)
    assert set(outcome.analysed.values()) == {0} and sorted(outcome.trial_ids) == V2_TRIALS
