"""The result store (raysym.store): round trips, replacement, validation on write and on read, setting bad
files aside, atomicity, concurrent writers, an unreachable store."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from raysym import store as store_module
from raysym.errors import ConfigError, DataError
from raysym.store import REJECTED_FOLDER, SCHEMA_FILE, SCHEMA_VERSION, TABLES, TRIAL_KEYS, ResultStore, load

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
    """The store's files but its schema record (raysym.store.SCHEMA_FILE, written with the first table)."""
    return sorted(p.name for p in path.rglob("*") if p.is_file() and p.name != SCHEMA_FILE)


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


# ---- Reading checks every file against the declared tables; bad files are skipped, then set aside ----


@pytest.fixture(params=["local", "s3"])
def place(request, tmp_path):
    """A store location on local disk, and one in a bucket of the loopback S3 server."""
    if request.param == "local":
        return str(tmp_path / "store")
    return f"s3://{request.getfixturevalue('s3').bucket()}/run/store"


def put(store, relative, data: bytes) -> str:
    """Raw bytes at ``relative`` under the store's root (what another program might leave there)."""
    path = f"{store.root}/{relative}"
    store.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with store.fs.open_output_stream(path) as stream:
        stream.write(data)
    return path


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue()


def snapshot(store) -> dict[str, bytes]:
    """Every file under the store's root but its schema record, relative path -> content."""
    infos = store.fs.get_file_info(pafs.FileSelector(store.root, recursive=True, allow_not_found=True))
    result = {}
    for info in infos:
        if info.type == pafs.FileType.File and info.base_name != SCHEMA_FILE:
            with store.fs.open_input_stream(info.path) as stream:
                result[info.path[len(store.root) + 1:]] = stream.read()
    return result


def evaluation(trial_id, **changes):
    return {**row("evaluations", trial_id=trial_id), **changes}


WRONG_FILES = {
    "accuracy as text": (pd.DataFrame([evaluation("bad", accuracy="0.9")]),
                         "column accuracy is string, declared float"),
    "seed as float": (pd.DataFrame([evaluation("bad", seed=1.0)]), "column seed is double, declared int"),
    "roc_auc missing": (pd.DataFrame([evaluation("bad")]).drop(columns="roc_auc"), "required column roc_auc missing"),
    "not parquet": (b"PAR1 garbage PAR1", "not a readable Parquet file"),
}


@pytest.mark.parametrize("case", WRONG_FILES)
def test_a_file_that_does_not_fit_its_table_is_skipped_with_a_warning_naming_it_and_why(place, case, caplog):
    store = ResultStore(place)
    store.write("evaluations", [evaluation("t0")], key="t0")
    content, problem = WRONG_FILES[case]
    bad = put(store, "evaluations/bad.parquet", content if isinstance(content, bytes) else parquet_bytes(content))
    before = snapshot(store)
    with caplog.at_level(logging.WARNING, logger="raysym.store"):
        frame = store.load("evaluations")
    assert list(frame["trial_id"]) == ["t0"]
    assert frame["accuracy"].dtype == "float64" and frame["seed"].dtype == "int64"
    assert any(f"table 'evaluations': file {bad}: {problem}" in message for message in caplog.messages)
    assert not store.has("evaluations", "bad") and store.has("evaluations", "t0")
    assert store.keys("evaluations") == ["t0"]
    assert [(r.path, r.moved_to) for r in store.rejected("evaluations")] == [(bad, None)]
    assert problem in store.rejected("evaluations")[0].problem
    with pytest.raises(DataError, match=f"file {bad}: {problem}"):
        store.read_file("evaluations", bad)
    assert snapshot(store) == before  # reading moved nothing


def test_extra_undeclared_columns_and_columns_without_values_fit_their_table(tmp_path):
    store = ResultStore(tmp_path)
    store.write("evaluations", [evaluation("t0", bias=None, ece=0.1)], key="t0")
    assert pq.read_schema(tmp_path / "evaluations" / "t0.parquet").field("bias").type == pa.null()
    assert store.rejected("evaluations") == [] and store.has("evaluations", "t0")
    assert store.load("evaluations").loc[0, "ece"] == 0.1


def test_a_folder_named_like_a_result_file_is_skipped_and_writing_its_key_sets_it_aside(place, caplog):
    store = ResultStore(place)
    store.write("evaluations", [evaluation("t0")], key="t0")
    inside = put(store, "evaluations/t1.parquet/part-0.parquet", parquet_bytes(pd.DataFrame([evaluation("t1")])))
    with caplog.at_level(logging.WARNING, logger="raysym.store"):
        assert list(store.load("evaluations")["trial_id"]) == ["t0"]  # the rows inside never mix in
    assert any("t1.parquet: a folder, not a Parquet file" in message for message in caplog.messages)
    assert not store.has("evaluations", "t1")
    store.write("evaluations", [evaluation("t1")], key="t1")  # a rerun's write of that key
    assert store.has("evaluations", "t1") and sorted(store.load("evaluations")["trial_id"]) == ["t0", "t1"]
    if not store.is_local:  # an object store keeps a file and a "folder" (a prefix) of the same name side by side
        assert [r.folder for r in store.rejected("evaluations")] == [True]
        assert len(store.set_aside()) == 1 and store.has("evaluations", "t1")
    assert store.rejected("evaluations") == []
    kept = [path for path in snapshot(store) if path.startswith(f"{REJECTED_FOLDER}/evaluations/t1.")]
    assert len(kept) == 1 and kept[0].endswith(".parquet/part-0.parquet")
    assert inside not in [f"{store.root}/{path}" for path in snapshot(store)]


def test_set_aside_moves_what_readers_skip_out_of_the_tables_keeps_it_and_a_rerun_rewrites_the_keys(place):
    store = ResultStore(place)
    store.write("evaluations", [evaluation("t0")], key="t0")
    store.write("trials", [row("trials")], key="t0")
    wrong = parquet_bytes(pd.DataFrame([evaluation("t1", accuracy="0.9")]))
    put(store, "evaluations/t1.parquet", wrong)
    put(store, "evaluations/t2.parquet/part-0.parquet", b"anything")
    put(store, "roc/t3.parquet", b"not parquet")
    moved = store.set_aside()
    assert sorted((r.table, r.path.rsplit("/", 2)[-1], r.problem.split(" (")[0]) for r in moved) == [
        ("evaluations", "t1.parquet", "column accuracy is string, declared float"),
        ("evaluations", "t2.parquet", "a folder, not a Parquet file"),
        ("roc", "t3.parquet", "not a readable Parquet file")]
    for rejected in moved:
        key = rejected.path.rsplit("/", 1)[-1][: -len(".parquet")]
        assert rejected.moved_to.startswith(f"{store.root}/{REJECTED_FOLDER}/{rejected.table}/{key}.")
        assert rejected.moved_to.endswith(".parquet") and f"moved to {rejected.moved_to}" in str(rejected)
    files = snapshot(store)
    assert files[next(r for r in moved if r.path.endswith("t1.parquet")).moved_to[len(store.root) + 1:]] == wrong
    assert sorted(path for path in files if not path.startswith(REJECTED_FOLDER)) == [
        "evaluations/t0.parquet", "trials/t0.parquet"]
    assert store.tables() == ["evaluations", "trials"]  # the rejected folder is no table
    assert store.set_aside() == [] and store.rejected("evaluations") == []
    for key in ("t1", "t2"):
        store.write("evaluations", [evaluation(key)], key=key)
    assert store.keys("evaluations") == ["t0", "t1", "t2"]


def test_set_aside_of_one_table_leaves_the_others_and_of_a_new_store_moves_nothing(tmp_path):
    store = ResultStore(tmp_path / "store")
    store.write("trials", [row("trials")], key="t0")
    for table in ("trials", "roc"):
        put(store, f"{table}/bad.parquet", b"not parquet")
    assert [r.table for r in store.set_aside(["roc"])] == ["roc"]
    assert [r.table for r in store.rejected("trials")] == ["trials"]
    with pytest.raises(ConfigError, match="table name '../trials'"):
        store.set_aside(["../trials"])
    assert ResultStore(tmp_path / "fresh").set_aside() == [] and not (tmp_path / "fresh").exists()


def test_clean_removes_a_killed_writers_temporary_file_from_a_bucket_too(place):
    store = ResultStore(place)
    store.write("trials", [row("trials")], key="k")
    leftover = put(store, "trials/.k2.0123abcd.parquet.tmp", b"PAR1 half a file")
    assert store.keys("trials") == ["k"] and store.rejected("trials") == []
    assert store.clean(older_than_s=3600) == []
    assert store.clean(older_than_s=-1) == [leftover]
    assert sorted(snapshot(store)) == ["trials/k.parquet"]


def test_a_store_that_cannot_be_reached_is_one_data_error_naming_it(unreachable):
    with pytest.raises(DataError, match=rf"result store {unreachable} cannot be reached: .*connect"):
        load(unreachable, "trials")


def test_files_of_the_study_are_stored_relative_to_its_folder_and_read_back_whole(place):
    """PATH columns (raysym.tables) hold a study's own files relative to the folder of its store, so a study
    copied or moved elsewhere names its own files; a file elsewhere keeps its full location."""
    store = ResultStore(place)
    home = place.rsplit("/", 1)[0]
    inside, outside = f"{home}/models/t0.pt", "/elsewhere/t1.pt"
    store.write("trials", [{**row("trials", trial_id="t0"), "model_path": inside}], key="t0")
    store.write("trials", [{**row("trials", trial_id="t1"), "model_path": outside}], key="t1")
    raw = {key: pq.read_table(f"{store.root}/trials/{key}.parquet", filesystem=store.fs).column("model_path")[0]
           .as_py() for key in ("t0", "t1")}
    assert raw == {"t0": "models/t0.pt", "t1": outside}
    assert store.load("trials").set_index("trial_id")["model_path"].to_dict() == {"t0": inside, "t1": outside}


def test_a_moved_store_names_its_files_at_their_new_place(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    ResultStore(old / "store").write("hessian", [{**trial(), "k": 1, "eigenvalue": 2.0, "trace": 3.0,
                                                  "trace_stderr": 0.1, "n_hvp": 4, "seconds": 1.0,
                                                  "backend": "lanczos", "eval_set_size": 8,
                                                  "nu1_path": str(old / "models" / "t0.nu1.pt"),
                                                  "settings_key": "k"}], key="t0")
    old.rename(new)
    assert ResultStore(new / "store").load("hessian")["nu1_path"].tolist() == [str(new / "models" / "t0.nu1.pt")]


def test_a_new_store_records_its_schema_with_its_first_table_and_an_old_one_is_left_as_it_is(tmp_path):
    new = ResultStore(tmp_path / "new")
    new.write("trials", [row("trials")], key="k")
    assert json.loads((tmp_path / "new" / SCHEMA_FILE).read_text()) == {"version": SCHEMA_VERSION}
    (tmp_path / "new" / SCHEMA_FILE).unlink()  # a store written before stores recorded their schema
    old = ResultStore(tmp_path / "new")
    old.write("trials", [row("trials")], key="k2")
    assert old.schema_version() == 1 and not (tmp_path / "new" / SCHEMA_FILE).exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / SCHEMA_FILE).write_text("{")
    with pytest.raises(DataError, match=f"{SCHEMA_FILE} is not JSON"):
        ResultStore(tmp_path / "bad").schema_version()
