"""SQL over a result store (raysym.query) and the ``raysym query`` command: answers, files the store's
readers skip, and a tool that only reads (no file written, changed or read outside the store)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raysym.cli import main
from raysym.errors import ConfigError, DataError
from raysym.query import query
from raysym.store import ResultStore


def keys(trial_id, penalty, lam, seed):
    return {"study": "demo", "trial_id": trial_id, "model": "teacher", "penalty": penalty, "lam": lam,
            "seed": seed}


@pytest.fixture
def store_path(tmp_path):
    """Four trials (two penalties x two seeds) with their trials and evaluations rows, one file per trial."""
    store = ResultStore(tmp_path / "store")
    for i, (penalty, lam, seed) in enumerate([("none", 0.0, 1), ("none", 0.0, 2),
                                              ("lorentz", 0.5, 1), ("lorentz", 0.5, 2)]):
        trial = keys(f"t{i}", penalty, lam, seed)
        store.write("trials", [{**trial, "n_parameters": 100 + i, "best_epoch": i, "best_val_loss": 0.4,
                                "epochs": 5, "model_path": f"/ck/t{i}.pt", "model_preset": "tiny",
                                "task": "g_vs_w"}], key=f"t{i}")
        store.write("evaluations", [{**trial, "task": "g_vs_w", "split": split, "accuracy": 0.7,
                                     "roc_auc": 0.8 + i / 100 + (0.05 if split == "boosted" else 0.0),
                                     "n_jets": 1000} for split in ("test", "boosted")], key=f"t{i}")
    return tmp_path / "store"


JOIN = ("SELECT t.penalty, avg(e.roc_auc) AS auc, sum(t.n_parameters) AS params "
        "FROM trials t JOIN evaluations e USING (study, trial_id, model, penalty, lam, seed) "
        "WHERE e.split = 'test' GROUP BY t.penalty ORDER BY t.penalty")


def test_join_of_two_tables_gives_the_expected_numbers(store_path):
    result = query(store_path, JOIN)
    assert list(result["penalty"]) == ["lorentz", "none"]
    assert result["auc"].tolist() == pytest.approx([0.825, 0.805])
    assert result["params"].tolist() == [205, 201]


def test_every_written_table_is_a_view(store_path):
    result = query(store_path, "SELECT (SELECT count(*) FROM trials) AS t, (SELECT count(*) FROM evaluations) AS e")
    assert result.iloc[0].tolist() == [4, 8]


def test_files_with_different_extra_columns_query_together(store_path):
    ResultStore(store_path).write("evaluations", [{**keys("t9", "none", 0.0, 3), "task": "g_vs_w", "split": "test",
                                                   "accuracy": 0.7, "roc_auc": 0.9, "n_jets": 10, "ece": 0.02}],
                                  key="t9")
    result = query(store_path, "SELECT count(*) AS n, count(ece) AS with_ece FROM evaluations")
    assert result.iloc[0].tolist() == [9, 1]


def test_temporary_files_are_not_read(store_path):
    (store_path / "trials" / ".t7.abc.parquet.tmp").write_bytes(b"PAR1 partial")
    assert query(store_path, "SELECT count(*) AS n FROM trials")["n"].tolist() == [4]


def test_sql_error_is_a_config_error_with_duckdb_message(store_path):
    with pytest.raises(ConfigError, match="SQL error: .*no_such_table"):
        query(store_path, "SELECT * FROM no_such_table")


def test_missing_or_empty_store_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        query(tmp_path / "nowhere", "SELECT 1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no tables"):
        query(tmp_path / "empty", "SELECT 1")


def test_file_uri_store_can_be_queried(store_path):
    assert query(f"file://{store_path}", "SELECT count(*) AS n FROM trials")["n"].tolist() == [4]


def test_a_store_in_an_s3_bucket_gives_the_same_answers_as_on_disk_and_stays_as_it_is(store_path, s3, capsys,
                                                                                      tmp_path):
    bucket = s3.bucket()
    remote = ResultStore(f"s3://{bucket}/study/store")
    local = ResultStore(store_path)
    for table in local.tables():
        for key in local.keys(table):
            remote.write(table, local.read_file(table, f"{local.root}/{table}/{key}.parquet"), key=key)
    assert query(remote.uri, JOIN).equals(query(store_path, JOIN))
    assert main(["query", remote.uri, "SELECT count(*) AS n FROM evaluations", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "8"
    objects = s3.keys(bucket)
    with pytest.raises(ConfigError, match="read-only"):
        query(remote.uri, f"COPY (SELECT * FROM trials) TO '{tmp_path}/leak.csv'")
    with pytest.raises(ConfigError, match="read-only"):
        query(remote.uri, f"COPY (SELECT 1 AS x) TO 's3://{bucket}/study/store/trials/t0.parquet' (FORMAT parquet)")
    assert s3.keys(bucket) == objects and not (tmp_path / "leak.csv").exists()


def test_cli_prints_the_result_table(store_path, capsys):
    assert main(["query", str(store_path), JOIN]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["penalty", "auc", "params"]
    assert lines[1].split()[0] == "lorentz" and float(lines[1].split()[2]) == 205


def test_cli_prints_csv(store_path, capsys):
    assert main(["query", str(store_path), "SELECT trial_id, seed FROM trials ORDER BY trial_id", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["trial_id,seed", "t0,1", "t1,2", "t2,1", "t3,2"]


def test_cli_reports_sql_errors_without_a_traceback(store_path, capsys):
    assert main(["query", str(store_path), "SELEC nonsense"]) == 2
    assert "raysym query: error: SQL error:" in capsys.readouterr().err


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment"])
def test_empty_or_comment_only_sql_is_a_config_error(store_path, sql):
    with pytest.raises(ConfigError, match="returns no rows to show: it is empty, only comments"):
        query(store_path, sql)


# ---- Files the store's readers skip are skipped here too, named, and left where they are ----


def file_bytes(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_corrupt_file_is_skipped_with_a_warning_naming_it_and_its_table_still_answers(store_path, caplog, capsys):
    stray = store_path / "evaluations" / "stray.parquet"
    stray.write_bytes(b"PAR1 garbage PAR1")
    expected = query(store_path, JOIN)
    before = file_bytes(store_path)
    with caplog.at_level(logging.WARNING, logger="raysym.store"):
        assert query(store_path, "SELECT count(*) AS n FROM evaluations")["n"].tolist() == [8]
    assert any(f"table 'evaluations': file {stray}: not a readable Parquet file" in m for m in caplog.messages)
    assert query(store_path, JOIN).equals(expected)
    assert main(["query", str(store_path), "SELECT count(*) AS n FROM trials", "--csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["n", "4"]
    assert f"raysym query: warning: table 'evaluations': file {stray}: not a readable Parquet file" in captured.err
    assert file_bytes(store_path) == before  # the query moved nothing


def test_a_file_with_a_declared_column_of_another_type_never_mixes_into_the_view(store_path, caplog):
    wrong = {**keys("t9", "none", 0.0, 9), "task": "g_vs_w", "split": "test", "accuracy": "high", "roc_auc": 0.9,
             "n_jets": 10}
    bad = store_path / "evaluations" / "t9.parquet"
    pq.write_table(pa.Table.from_pandas(pd.DataFrame([wrong])), bad)
    before = bad.read_bytes()
    with caplog.at_level(logging.WARNING, logger="raysym.store"):
        result = query(store_path, "SELECT typeof(accuracy) AS kind, count(*) AS n FROM evaluations GROUP BY ALL")
    assert result.values.tolist() == [["DOUBLE", 8]]
    assert any(f"file {bad}: column accuracy is string, declared float" in m for m in caplog.messages)
    assert bad.read_bytes() == before


def test_a_folder_named_like_a_result_file_adds_no_rows(store_path, caplog):
    folder = store_path / "evaluations" / "t9.parquet"
    folder.mkdir()
    (folder / "part-0.parquet").write_bytes((store_path / "evaluations" / "t1.parquet").read_bytes())
    with caplog.at_level(logging.WARNING, logger="raysym.store"):
        assert query(store_path, "SELECT count(*) AS n FROM evaluations")["n"].tolist() == [8]
    assert any(f"file {folder}: a folder, not a Parquet file" in m for m in caplog.messages)
    assert (folder / "part-0.parquet").is_file()


# ---- Read-only: a query can neither write, change, nor read past the store ----


@pytest.fixture
def outside(tmp_path):
    """A file outside the store a query must not read, and paths a query must not create."""
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    return tmp_path


ATTACKS = {
    "COPY to a csv file": ("COPY (SELECT * FROM trials) TO '{outside}/leak.csv'",
                           r"refused a statement of type COPY \("),
    "COPY over a stored trial": ("COPY (SELECT 'oops' AS note) TO '{store}/trials/t0.parquet' (FORMAT parquet)",
                                 r"refused a statement of type COPY \("),
    "ATTACH a new database": ("ATTACH '{outside}/new.duckdb'", r"refused a statement of type ATTACH \("),
    "read_text of a file": ("SELECT * FROM read_text('{outside}/secret.txt')", "DuckDB refused: .*secret.txt"),
    "read_csv of a file": ("SELECT * FROM read_csv('{outside}/secret.txt')", "DuckDB refused: .*secret.txt"),
    "a file read by name": ("SELECT * FROM '{store}/trials/t0.parquet'", "DuckDB refused: .*t0.parquet"),
    "a glob of the disk": ("SELECT * FROM glob('{outside}/*')", "DuckDB refused"),
    "INSTALL an extension": ("INSTALL httpfs", r"refused a statement of type LOAD \("),
    "LOAD an extension": ("LOAD httpfs", r"refused a statement of type LOAD \("),
    "SET access back on": ("SET enable_external_access = true", r"refused a statement of type SET \("),
    "CREATE a table": ("CREATE TABLE notes AS SELECT * FROM trials", r"refused a statement of type CREATE \("),
    "EXPORT the database": ("EXPORT DATABASE '{outside}/export'", r"refused a statement of type EXPORT \("),
    "PRAGMA": ("PRAGMA enable_profiling", r"refused a statement of type PRAGMA \("),
    "a COPY behind a query": ("SELECT 1; COPY (SELECT 1) TO '{outside}/leak.csv'",
                              r"refused a statement of type COPY \("),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_statement_that_would_write_or_read_past_the_store_is_refused_and_changes_nothing(store_path, outside,
                                                                                            attack, capsys):
    sql, refused = ATTACKS[attack]
    sql = sql.format(outside=outside, store=store_path)
    before = file_bytes(outside)
    with pytest.raises(ConfigError, match=rf"raysym query is read-only: .*; {refused}"):
        query(store_path, sql)
    assert main(["query", str(store_path), sql]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raysym query: error: raysym query is read-only") and "Traceback" not in err
    assert file_bytes(outside) == before  # nothing written, nothing changed, no stored trial overwritten
    assert "password" not in capsys.readouterr().out


def test_the_readmes_aliased_join_and_describe_still_work(tmp_path):
    store = ResultStore(tmp_path / "store")
    for i, bias in enumerate(["teacher", "teacher:seal:0.1"]):
        trial = keys(f"t{i}", "none" if i == 0 else "seal", 0.0 if i == 0 else 0.1, 1)
        store.write("trials", [{**trial, "bias": bias, "n_parameters": 10, "best_epoch": 1, "best_val_loss": 0.4,
                                "epochs": 2, "model_path": "m.pt", "model_preset": "tiny", "task": "g_vs_w"}],
                    key=f"t{i}")
        store.write("evaluations", [{**trial, "bias": bias, "task": task, "split": "test", "accuracy": 0.7,
                                     "roc_auc": 0.8 + i / 10, "n_jets": 10} for task in ("g_vs_w", "g_vs_t")],
                    key=f"t{i}")
    aliased = query(store.uri, "SELECT t.bias, e.task, avg(e.roc_auc) FROM evaluations e JOIN trials t "
                               "USING (study, trial_id) GROUP BY ALL ORDER BY ALL")
    assert aliased.values.tolist() == [["teacher", "g_vs_t", 0.8], ["teacher", "g_vs_w", 0.8],
                                       ["teacher:seal:0.1", "g_vs_t", pytest.approx(0.9)],
                                       ["teacher:seal:0.1", "g_vs_w", pytest.approx(0.9)]]
    described = query(store.uri, "DESCRIBE evaluations")
    assert dict(zip(described["column_name"], described["column_type"]))["roc_auc"] == "DOUBLE"


# ---- Every per-trial view has bias; joins have one form, and a column left ambiguous says it ----


def evaluation(trial_id, bias=None, task="g_vs_w", auc=0.8):
    row = {**keys(trial_id, "seal", 0.1, 1), "task": task, "split": "test", "accuracy": 0.7, "roc_auc": auc,
           "n_jets": 10}
    return row if bias is None else {**row, "bias": bias}


def trial(trial_id, bias):
    return {**keys(trial_id, "seal", 0.1, 1), "bias": bias, "n_parameters": 10, "best_epoch": 1,
            "best_val_loss": 0.4, "epochs": 2, "model_path": "m.pt", "model_preset": "tiny", "task": "g_vs_w"}


def test_rows_of_a_file_without_bias_get_their_trials_and_rows_with_one_keep_it(tmp_path):
    store = ResultStore(tmp_path / "store")
    store.write("trials", [trial("t0", "teacher-seal-0.1"), trial("t1", "teacher-seal-0.1-b")], key="trials")
    store.write("evaluations", [evaluation("t0", task=task) for task in ("g_vs_w", "g_vs_t")], key="old")
    store.write("evaluations", [evaluation("t1", bias="its-own")], key="new")
    store.write("evaluations", [evaluation("t9")], key="orphan")  # no trials row: nothing to take bias from
    rows = query(store.uri, "SELECT trial_id, task, coalesce(bias, 'null') FROM evaluations ORDER BY ALL")
    assert rows.values.tolist() == [["t0", "g_vs_t", "teacher-seal-0.1"], ["t0", "g_vs_w", "teacher-seal-0.1"],
                                    ["t1", "g_vs_w", "its-own"], ["t9", "g_vs_w", "null"]]


def test_a_table_without_bias_and_a_store_without_trials_still_have_the_column(tmp_path):
    store = ResultStore(tmp_path / "store")
    store.write("evaluations", [evaluation("t0")], key="t0")
    assert query(store.uri, "SELECT trial_id, bias IS NULL FROM evaluations").values.tolist() == [["t0", True]]
    store.write("studies", [{"study": "demo", "run_key": "r", "config_json": "{}", "data_source": "d",
                             "data_key": "k", "trial_ids": "[]", "student_ids": "[]", "keys_json": "{}"}], key="r")
    assert "bias" not in query(store.uri, "SELECT * FROM studies").columns  # a per-study table has no trial


@pytest.mark.parametrize("fixture", ["v1_study", "v2_study"])
def test_an_older_store_gives_every_row_of_every_per_trial_view_its_trials_bias(fixture):
    """Schema-1 stores wrote no bias in evaluations and roc (the migration adds it); queried as they are."""
    store = Path(__file__).parent / "data" / fixture / "out" / "store"
    before = file_bytes(store)
    trials = dict(query(store, "SELECT trial_id, bias FROM trials").values.tolist())
    assert len(trials) == 2 and all(trials.values())
    for table in ResultStore(store).tables():
        if table in ("studies", "trials"):
            continue
        rows = query(store, f"SELECT DISTINCT trial_id, bias FROM {table}").values.tolist()
        assert rows and all(trials[trial_id] == bias for trial_id, bias in rows), table
    by_bias = query(store, "SELECT bias, task, avg(roc_auc) AS auc FROM evaluations WHERE best GROUP BY ALL")
    joined = query(store, "SELECT t.bias, e.task, avg(e.roc_auc) AS auc FROM evaluations e JOIN trials t "
                          "USING (study, trial_id) WHERE e.best GROUP BY ALL")
    assert len(by_bias) == 6 and by_bias.sort_values(["bias", "task"]).values.tolist() == \
        joined.sort_values(["bias", "task"]).values.tolist()
    assert file_bytes(store) == before


def test_a_column_two_joined_tables_share_left_unqualified_is_an_error_giving_the_join_rule(tmp_path):
    store = ResultStore(tmp_path / "store")
    store.write("trials", [trial("t0", "teacher-seal-0.1")], key="t0")
    store.write("evaluations", [evaluation("t0", bias="teacher-seal-0.1", task="g_vs_t")], key="t0")
    join = "FROM evaluations e JOIN trials t USING (study, trial_id)"
    for column in ("task", "bias", "seed"):
        with pytest.raises(ConfigError, match=rf'(?s)Ambiguous reference to column name "{column}".*'
                                              r"join tables with USING \(study, trial_id\) and write every other "
                                              r"column with its table's alias"):
            query(store.uri, f"SELECT {column} {join}")
    rows = query(store.uri, f"SELECT trial_id, t.task AS trained, e.task AS scored, e.bias {join}").values.tolist()
    assert rows == [["t0", "g_vs_w", "g_vs_t", "teacher-seal-0.1"]]
    with pytest.raises(ConfigError, match="SQL error: .*no_such_column") as refused:
        query(store.uri, "SELECT no_such_column FROM trials")
    assert "join tables with" not in str(refused.value)  # the rule comes only with an ambiguous column


def test_the_help_of_raysym_query_gives_the_join_rule(capsys):
    with pytest.raises(SystemExit):
        main(["query", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "carries study, trial_id, bias, model, penalty, lam and seed" in text
    assert "join tables with USING (study, trial_id) and write every other column with its table's alias" in text
