"""SQL over a result store (raysym.query) and the ``raysym query`` command."""

from __future__ import annotations

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


def test_a_store_in_an_s3_bucket_gives_the_same_answers_as_on_disk(store_path, s3, capsys):
    remote = ResultStore(f"s3://{s3.bucket()}/study/store")
    local = ResultStore(store_path)
    for table in local.tables():
        for key in local.keys(table):
            remote.write(table, local.read_file(table, f"{local.root}/{table}/{key}.parquet"), key=key)
    assert query(remote.uri, JOIN).equals(query(store_path, JOIN))
    assert main(["query", remote.uri, "SELECT count(*) AS n FROM evaluations", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "8"


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


def test_a_corrupt_file_names_itself_only_in_queries_of_its_table(store_path):
    (store_path / "evaluations" / "stray.parquet").write_bytes(b"PAR1 garbage PAR1")
    with pytest.raises(DataError, match=r"table 'evaluations': file .*stray.parquet is not a readable Parquet"):
        query(store_path, JOIN)
    assert query(store_path, "SELECT count(*) AS n FROM trials")["n"].tolist() == [4]


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment"])
def test_empty_or_comment_only_sql_is_a_config_error(store_path, sql):
    with pytest.raises(ConfigError, match="returns no rows to show: it is empty, only comments"):
        query(store_path, sql)
