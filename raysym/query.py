"""``raysym query STORE "SQL"``: read-only SQL over every table of a result store, through DuckDB.

Questions about a study ("mean ROC AUC per bias and task", "which trials stopped early") are group-bys
and joins over the store's tables; DuckDB answers them straight from the Parquet files, without loading
the store into pandas first. Each table with at least one usable file becomes a view of the same name.

Every row of a per-trial view carries the trial keys and the bias's name (``study``, ``trial_id``,
``bias``, ``model``, ``penalty``, ``lam``, ``seed``), so a question by bias, penalty, λ or seed needs no
join: ``SELECT bias, task, avg(roc_auc) FROM evaluations WHERE best GROUP BY ALL``. Rows of files written
before a table stored ``bias`` (an older store, not yet migrated) get their trial's, from the ``trials``
row with the same ``study`` and ``trial_id`` (students' rows carry their teacher's trial keys, so theirs).

A question that needs a trial's settings (``lr``, ``n_parameters``, ...) joins ``trials`` in one form:
``FROM evaluations e JOIN trials t USING (study, trial_id)``, every other column written with its table's
alias (``e.task``, ``t.lr``). Tables share more columns than the two keys (``bias``, ``seed``, ``task``,
``settings_key``, ...), and some mean different things in each (``trials.task`` is the task a model was
trained on, ``evaluations.task`` the one it was scored on), so DuckDB refuses such a column unqualified;
the error then says how to write it (:data:`JOIN_RULE`).

A query tool over a result store must neither change the store nor reach past it, so it only reads:

- DuckDB opens no file itself. Each view is an Arrow data set over the files the store has checked
  (:meth:`~raysym.store.ResultStore.checked_files`: Parquet, of the declared column types), scanned
  through the store's own filesystem, so an ``s3://`` store needs no credentials in DuckDB either.
- Before the query runs, DuckDB's file access and extension loading are switched off and its
  configuration locked (DuckDB's own switches, enforced by DuckDB, not by reading the SQL): ``read_text``
  or ``read_csv`` of any file, ``COPY … TO``, ``ATTACH``, ``INSTALL``/``LOAD`` and ``SET`` all fail.
- A statement that is not a query (COPY, ATTACH, INSTALL, LOAD, SET, CREATE, INSERT, EXPORT, PRAGMA,
  CALL, …) is refused before anything runs, with one ``ConfigError`` naming it.

Files the store's readers skip (not Parquet, a column of another type, a folder named like a file) are
skipped here too, each with a warning naming it, and never moved: only a study sets them aside.
"""

from __future__ import annotations

import argparse
import sys

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from raysym.errors import ConfigError, DataError
from raysym.store import ResultStore

#: The statement types the tool runs. SELECT covers every query: WITH, VALUES, FROM-first, DESCRIBE, SHOW
#: and SUMMARIZE parse as SELECT too.
READ_ONLY_STATEMENTS = frozenset({duckdb.StatementType.SELECT})

#: The connection's settings from the start: no file access, no extensions fetched or loaded on demand, no
#: Python variable read by name (only the registered views), and no statement may change a setting later.
LOCKED_DOWN = {"enable_external_access": False, "autoinstall_known_extensions": False,
               "autoload_known_extensions": False, "python_enable_replacements": False, "lock_configuration": True}

REFUSED = "raysym query is read-only: it runs queries (SELECT …) over the store's tables and nothing else"

#: The one way to join two tables, given with DuckDB's error when a query names a column two joined tables share.
JOIN_RULE = ("join tables with USING (study, trial_id) and write every other column with its table's alias, e.g. "
             "SELECT t.lr, e.task, avg(e.roc_auc) FROM evaluations e JOIN trials t USING (study, trial_id) "
             "GROUP BY ALL")
#: The bias's name ("teacher-seal-0.1"): every per-trial view has it, filled from ``trials`` where a file lacks it.
BIAS = "bias"
#: The columns that say a table is per trial (a table nobody declared here too, such as a registered analysis').
_PER_TRIAL = ("study", "trial_id")


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """A ``ConfigError`` unless ``sql`` is one or more queries: a statement of another type (COPY, ATTACH, SET,
    CREATE, …) is named and refused before anything runs; SQL DuckDB cannot parse is a ``ConfigError``
    with DuckDB's message, and SQL with no statement at all (empty, only comments) one saying so."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as err:
        raise ConfigError(f"SQL error: {err}") from None
    for statement in statements:
        if statement.type not in READ_ONLY_STATEMENTS:
            raise ConfigError(f"{REFUSED}; refused a statement of type {statement.type.name} "
                              f"({_excerpt(statement.query)})")
    if not statements:
        raise ConfigError("the SQL returns no rows to show: it is empty, only comments, or not a query "
                          "(write a SELECT)")


def dataset(store: ResultStore, table: str, files: dict[str, pa.Schema]) -> ds.Dataset:
    """``table`` as an Arrow data set over its checked ``files`` (path -> schema), scanned lazily through the
    store's filesystem, so DuckDB reads only the columns and row groups a query needs and never opens a file
    itself. Columns line up by name across files (files with different extra columns query together); a
    column a file lacks is null in its rows. A per-trial table always has a ``bias`` column, null where no
    file has one (:func:`add_view` fills it)."""
    try:
        schema = pa.unify_schemas([s.remove_metadata() for s in files.values()], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DataError(f"table {table!r}: its files give an extra column different types ({err})") from None
    if _is_per_trial(schema) and BIAS not in schema.names:
        schema = schema.append(pa.field(BIAS, pa.string()))
    return ds.dataset(list(files), schema=schema, format="parquet", filesystem=store.fs)


def _is_per_trial(schema: pa.Schema) -> bool:
    return all(name in schema.names for name in _PER_TRIAL)


def add_view(con: duckdb.DuckDBPyConnection, table: str, data: ds.Dataset, files: dict[str, pa.Schema]) -> None:
    """Register ``data`` as the view ``table``. Where a file of a per-trial table other than ``trials`` lacks
    ``bias`` (written before it was stored), the view takes each such row's bias from the ``trials`` view
    (registered first), matched on ``study`` and ``trial_id``; other views are the data set as it is."""
    lacking = any(BIAS not in schema.names for schema in files.values())
    if table == "trials" or not lacking or not _is_per_trial(data.schema) or not _has_trials(con):
        con.register(table, data)
        return
    trial_bias = con.sql(f"SELECT study, trial_id, any_value({BIAS}) AS trial_bias FROM trials "
                         "GROUP BY study, trial_id")  # one row per trial, so the join adds no rows
    filled = con.from_arrow(data).join(trial_bias, ", ".join(_PER_TRIAL), how="left")
    filled.project(f"* EXCLUDE (trial_bias) REPLACE (coalesce({BIAS}, trial_bias) AS {BIAS})").create_view(table)


def _has_trials(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection has a ``trials`` view (with a ``bias`` column: :func:`dataset` gives it one)."""
    try:
        con.table("trials")
    except duckdb.CatalogException:
        return False
    return True


def query(path, sql: str) -> pd.DataFrame:
    """Run the query ``sql`` over the store at ``path`` (one view per table) and return the result as a frame.

    A store that does not exist or cannot be reached, or has no tables, is a ``DataError`` naming it. A
    file the store's readers skip is left out with a warning naming it (logged, as by
    :meth:`~raysym.store.ResultStore.load`), so its table's other rows still answer; a table with no usable
    file gets no view. A statement that is not a query, or one that reaches for a file, an extension or a
    setting, is a ``ConfigError`` saying the tool is read-only and what it refused; other SQL DuckDB
    rejects is a ``ConfigError`` with DuckDB's message.
    """
    store = ResultStore(path)
    store.require()
    tables = store.tables()
    if not tables:
        raise DataError(f"result store {store.uri} has no tables yet")
    con = duckdb.connect(":memory:", config=LOCKED_DOWN)
    try:
        check_read_only(con, sql)
        for table in sorted(tables, key=lambda name: name != "trials"):  # trials first: the others fill bias from it
            files = store.checked_files(table)
            if files:
                add_view(con, table, dataset(store, table, files), files)
        try:
            result = con.execute(sql)
        except duckdb.PermissionException as err:
            raise ConfigError(f"{REFUSED}; DuckDB refused: {err}") from None
        except duckdb.BinderException as err:
            hint = f"\n{JOIN_RULE}" if "Ambiguous reference to column" in str(err) else ""
            raise ConfigError(f"SQL error: {err}{hint}") from None
        except duckdb.Error as err:
            raise ConfigError(f"SQL error: {err}") from None
        return result.df()
    finally:
        con.close()


def run(args: argparse.Namespace) -> int:
    frame = query(args.store, args.sql)
    if args.csv:
        frame.to_csv(sys.stdout, index=False)
    elif frame.empty:
        print(f"(no rows; columns: {', '.join(map(str, frame.columns))})")
    else:
        print(frame.to_string(index=False))
    return 0


#: What ``raysym query --help`` says after the arguments: the columns every view has, and the one join form.
EPILOG = ("Every row of a per-trial table carries study, trial_id, bias, model, penalty, lam and seed, so a "
          "question by bias needs no join: SELECT bias, task, avg(roc_auc) FROM evaluations WHERE best GROUP BY "
          f"ALL. For a trial's settings, {JOIN_RULE}. Tables share more columns than the two keys (bias, seed, "
          "task, ...), and trials.task (trained on) is not evaluations.task (scored on).")


def register(subparsers) -> None:
    parser = subparsers.add_parser("query", help="run read-only SQL over the tables of a result store",
                                   description=__doc__.splitlines()[0], epilog=EPILOG)
    parser.add_argument("store", help="result store directory or URI")
    parser.add_argument("sql", help='a query; each table is a view, e.g. "SELECT bias, avg(roc_auc) FROM '
                                    'evaluations GROUP BY bias"')
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.set_defaults(func=run)
