"""``raysym query STORE "SQL"``: read-only SQL over every table of a result store, through DuckDB.

Questions about a study ("mean ROC AUC per penalty and λ", "which trials stopped early") are joins and
group-bys over the store's tables; DuckDB answers them straight from the Parquet files, without loading
the store into pandas first. Each table with at least one usable file becomes a view of the same name.

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


def add_view(con: duckdb.DuckDBPyConnection, store: ResultStore, table: str, files: dict[str, pa.Schema]) -> None:
    """``table`` as an Arrow data set over its checked ``files`` (path -> schema), registered as a view.

    The data set is scanned lazily, through the store's filesystem, so DuckDB reads only the columns and
    row groups a query needs and never opens a file itself. Columns line up by name across files (files
    with different extra columns query together); a column a file lacks is null in its rows.
    """
    try:
        schema = pa.unify_schemas([s.remove_metadata() for s in files.values()], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DataError(f"table {table!r}: its files give an extra column different types ({err})") from None
    con.register(table, ds.dataset(list(files), schema=schema, format="parquet", filesystem=store.fs))


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
        for table in tables:
            files = store.checked_files(table)
            if files:
                add_view(con, store, table, files)
        try:
            result = con.execute(sql)
        except duckdb.PermissionException as err:
            raise ConfigError(f"{REFUSED}; DuckDB refused: {err}") from None
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


def register(subparsers) -> None:
    parser = subparsers.add_parser("query", help="run read-only SQL over the tables of a result store",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("store", help="result store directory or URI")
    parser.add_argument("sql", help='a query; each table is a view, e.g. "SELECT penalty, avg(roc_auc) FROM '
                                    'evaluations GROUP BY penalty"')
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.set_defaults(func=run)
