"""The result store (raysym.store): round trips, replacement, validation, atomicity, concurrent writers."""

from __future__ import annotations

import multiprocessing
import threading

import pandas as pd
import pyarrow.parquet as pq
import pytest

from raysym import store as store_module
from raysym.errors import ConfigError, DataError
from raysym.store import TABLES, TRIAL_KEYS, ResultStore, load

EXAMPLE_VALUES = {
    "n_parameters": 1234, "best_epoch": 3, "best_val_loss": 0.41, "epochs": 5, "model_path": "/ck/t0.pt",
    "model_preset": "paper", "task": "g_vs_w", "epoch": 2, "train_bce": 0.5, "train_penalty": 0.01,
    "train_loss": 0.51, "val_loss": 0.45, "val_bce": 0.44, "val_penalty": 0.01, "val_accuracy": 0.8,
    "val_roc_auc": 0.87, "epoch_seconds": 1.5, "jets_per_second": 2000.0, "split": "test", "accuracy": 0.81,
    "roc_auc": 0.88, "n_jets": 1000, "fpr": 0.1, "tpr": 0.7, "threshold": 0.5,
}


def trial(trial_id="t0", lam=0.1, seed=1, penalty="lorentz"):
    return {"study": "demo", "trial_id": trial_id, "model": "teacher", "penalty": penalty, "lam": lam,
            "seed": seed}


def row(table, **keys):
    return {**trial(**keys), **{c: EXAMPLE_VALUES[c] for c in TABLES[table]}}


def files_in(path):
    return sorted(p.name for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("table", ["trials", "epochs", "evaluations", "roc"])
def test_every_table_round_trips_with_key_types_kept(tmp_path, table):
    store = ResultStore(tmp_path)
    written = store.write(table, [row(table, trial_id="t0"), row(table, trial_id="t1", seed=2)], key="k")
    assert written.endswith(f"/{table}/k.parquet")
    frame = load(tmp_path, table)
    assert list(frame.columns) == list(TRIAL_KEYS + TABLES[table])
    assert list(frame["trial_id"]) == ["t0", "t1"]
    assert frame["lam"].dtype == "float64" and frame["seed"].dtype == "int64"
    assert frame.loc[1, "seed"] == 2
    for column in TABLES[table]:
        assert frame.loc[0, column] == EXAMPLE_VALUES[column]
    assert store.tables() == [table] and store.keys(table) == ["k"] and store.has(table, "k")


def test_integer_lam_is_stored_as_float(tmp_path):
    ResultStore(tmp_path).write("evaluations", [row("evaluations", lam=1)], key="k")
    assert load(tmp_path, "evaluations")["lam"].dtype == "float64"


def test_writing_a_key_again_replaces_its_rows(tmp_path):
    store = ResultStore(tmp_path)
    store.write("epochs", [row("epochs") for _ in range(3)], key="t0")
    store.write("epochs", [{**row("epochs"), "val_loss": 0.2}, row("epochs")], key="t0")
    frame = store.load("epochs")
    assert len(frame) == 2 and frame.loc[0, "val_loss"] == 0.2
    assert files_in(tmp_path) == ["t0.parquet"]


def test_files_with_different_extra_columns_load_together(tmp_path):
    store = ResultStore(tmp_path)
    store.write("evaluations", pd.DataFrame([{**row("evaluations", trial_id="a"), "calibration": 0.3}]), key="a")
    store.write("evaluations", [{**row("evaluations", trial_id="b"), "notes": "boosted"}], key="b")
    store.write("evaluations", [row("evaluations", trial_id="c")], key="c")
    frame = store.load("evaluations").set_index("trial_id")
    assert frame.loc["a", "calibration"] == 0.3 and pd.isna(frame.loc["b", "calibration"])
    assert frame.loc["b", "notes"] == "boosted" and pd.isna(frame.loc["c", "notes"])


def test_empty_table_of_a_new_store_loads_with_its_required_columns(tmp_path):
    store = ResultStore(tmp_path / "fresh").create()
    frame = store.load("roc")
    assert frame.empty and list(frame.columns) == list(TRIAL_KEYS + TABLES["roc"])
    assert store.tables() == [] and not store.has("roc", "k")


def test_a_store_path_that_does_not_exist_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"result store .*quikc/store does not exist"):
        load(tmp_path / "quikc" / "store", "trials")
    with pytest.raises(DataError, match="does not exist"):
        ResultStore(tmp_path / "nowhere").tables()
    assert not ResultStore(tmp_path / "nowhere").has("trials", "k")  # rerun skipping still just asks
    assert files_in(tmp_path) == []


def test_a_corrupt_file_is_an_error_naming_it_and_its_table_and_other_tables_still_load(tmp_path):
    store = ResultStore(tmp_path)
    store.write("trials", [row("trials")], key="t0")
    store.write("roc", [row("roc")], key="t0")
    (tmp_path / "roc" / "stray.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"table 'roc': file .*stray.parquet is not a readable Parquet file"):
        store.load("roc")
    assert len(store.load("trials")) == 1
    assert store.broken_files("roc") == [str(tmp_path / "roc" / "stray.parquet")]


@pytest.mark.parametrize("table,column,value,wanted", [
    ("trials", "n_parameters", "many", "a number"),
    ("trials", "epochs", 2.5, "a whole number"),
    ("evaluations", "roc_auc", "0.9", "a number"),
    ("evaluations", "task", 3, "text"),
    ("trials", "stopped_early", "no", "true/false"),
    ("hessian", "n_hvp", None, "a whole number"),
])
def test_a_value_of_the_wrong_type_in_a_declared_column_is_refused_and_writes_nothing(tmp_path, table, column,
                                                                                     value, wanted):
    values = {**EXAMPLE_VALUES, "k": 1, "eigenvalue": 3.0, "trace": 9.0, "trace_stderr": 1.0, "n_hvp": 12,
              "seconds": 1.0, "backend": "lanczos", "eval_set_size": 64, "nu1_path": "/nu1.pt",
              "settings_key": "abc", "stopped_early": False}
    bad = {**trial(), **{c: values[c] for c in TABLES[table]}, column: value}
    with pytest.raises(DataError, match=rf"table '{table}': column {column} holds {value!r}, not {wanted}"):
        ResultStore(tmp_path).write(table, [bad], key="k")
    assert files_in(tmp_path) == []


def test_missing_required_column_is_a_data_error_naming_it_and_writes_nothing(tmp_path):
    bad = row("evaluations")
    del bad["roc_auc"], bad["seed"]
    with pytest.raises(DataError, match=r"evaluations.*seed, roc_auc"):
        ResultStore(tmp_path).write("evaluations", [bad], key="k")
    assert files_in(tmp_path) == []


def test_unknown_table_is_a_config_error_listing_tables(tmp_path):
    with pytest.raises(ConfigError, match="unknown table 'nope'.*evaluations.*trials"):
        ResultStore(tmp_path).write("nope", [row("trials")], key="k")
    with pytest.raises(ConfigError):
        ResultStore(tmp_path).load("nope")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("key", ["", "../escape", "a/b", ".hidden", "sp ace", "x" * 201, "é"])
def test_unsafe_key_is_a_config_error_and_writes_nothing(tmp_path, key):
    with pytest.raises(ConfigError, match="store key"):
        ResultStore(tmp_path).write("trials", [row("trials")], key=key)
    assert files_in(tmp_path) == []


def test_safe_key_characters_are_accepted(tmp_path):
    ResultStore(tmp_path).write("trials", [row("trials")], key="demo_t-0.lam=0.1")
    assert ResultStore(tmp_path).keys("trials") == ["demo_t-0.lam=0.1"]


@pytest.mark.parametrize("rows", [[], pd.DataFrame(columns=list(TRIAL_KEYS + TABLES["trials"]))])
def test_empty_rows_are_a_data_error_and_write_nothing(tmp_path, rows):
    with pytest.raises(DataError, match="no rows"):
        ResultStore(tmp_path).write("trials", rows, key="k")
    assert files_in(tmp_path) == []


def test_null_trial_key_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="seed"):
        ResultStore(tmp_path).write("trials", [row("trials"), {**row("trials"), "seed": None}], key="k")
    assert files_in(tmp_path) == []


def test_crash_mid_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.write("trials", [row("trials")], key="k")
    real_write = pq.write_table

    def write_then_crash(table, where, **kwargs):
        real_write(table.slice(0, 0), where, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(store_module.pq, "write_table", write_then_crash)
    with pytest.raises(OSError, match="disk full"):
        store.write("trials", [row("trials", trial_id="new")], key="k")
    with pytest.raises(OSError):
        store.write("trials", [row("trials")], key="other")
    assert files_in(tmp_path) == ["k.parquet"]
    assert list(store.load("trials")["trial_id"]) == ["t0"]


def test_load_ignores_temporary_files_a_killed_writer_left(tmp_path):
    store = ResultStore(tmp_path)
    store.write("trials", [row("trials")], key="k")
    leftover = tmp_path / "trials" / ".k2.0123abcd.parquet.tmp"
    leftover.write_bytes(b"PAR1 half a file")
    assert store.keys("trials") == ["k"] and len(store.load("trials")) == 1
    assert store.clean(older_than_s=3600) == []
    assert store.clean(older_than_s=-1) == [str(leftover)]
    assert files_in(tmp_path) == ["k.parquet"]


def test_tables_join_on_the_trial_keys(tmp_path):
    store = ResultStore(tmp_path)
    for i, penalty in enumerate(["none", "lorentz"]):
        keys = dict(trial_id=f"t{i}", penalty=penalty, lam=0.0 if penalty == "none" else 0.5, seed=i)
        store.write("trials", [row("trials", **keys)], key=f"t{i}")
        store.write("evaluations", [{**row("evaluations", **keys), "roc_auc": 0.8 + i / 10}], key=f"t{i}")
    joined = store.load("trials").merge(store.load("evaluations"), on=list(TRIAL_KEYS))
    assert len(joined) == 2
    assert dict(zip(joined["penalty"], joined["roc_auc"])) == {"none": 0.8, "lorentz": pytest.approx(0.9)}


def test_file_uri_store_works_like_a_path(tmp_path):
    uri = f"file://{tmp_path}/store"
    ResultStore(uri).write("roc", [row("roc")], key="k")
    assert (tmp_path / "store" / "roc" / "k.parquet").is_file()
    assert ResultStore(tmp_path / "store").load("roc").equals(load(uri, "roc"))


def write_many(path, writer, count):
    """One concurrent writer: ``count`` files with distinct keys, two rows each, into the same table."""
    store = ResultStore(path)
    for i in range(count):
        store.write("epochs", [row("epochs", trial_id=f"{writer}-{i}"), row("epochs", trial_id=f"{writer}-{i}")],
                    key=f"{writer}-{i}")


def test_two_writer_threads_lose_nothing(tmp_path):
    threads = [threading.Thread(target=write_many, args=(tmp_path, w, 50)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    frame = ResultStore(tmp_path).load("epochs")
    assert len(frame) == 200 and frame["trial_id"].nunique() == 100
    assert files_in(tmp_path) == sorted(f"{w}-{i}.parquet" for w in "ab" for i in range(50))


def test_two_writer_processes_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=write_many, args=(str(tmp_path), w, 50)) for w in ("a", "b")]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    frame = ResultStore(tmp_path).load("epochs")
    assert len(frame) == 200 and frame["trial_id"].nunique() == 100
    assert files_in(tmp_path) == sorted(f"{w}-{i}.parquet" for w in "ab" for i in range(50))


def test_writers_replacing_the_same_key_leave_one_whole_file(tmp_path):
    threads = [threading.Thread(target=lambda: [ResultStore(tmp_path).write("trials", [row("trials")] * 3, "k")
                                                for _ in range(20)]) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ResultStore(tmp_path).load("trials")) == 3
    assert files_in(tmp_path) == ["k.parquet"]
