"""``raysym query STORE "SQL"``: SQL over every table of a result store, through DuckDB.

Questions about a study ("mean ROC AUC per penalty and λ", "which trials stopped early") are joins and
group-bys over the store's tables; DuckDB answers them straight from the Parquet files, without loading
the store into pandas first. Each table with at least one file becomes a view of the same name.
"""

from __future__ import annotations

import argparse
import re
import sys

import duckdb
import pandas as pd

from raysym.errors import ConfigError, DataError
from raysym.store import SUFFIX, ResultStore


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _add_view(con: duckdb.DuckDBPyConnection, store: ResultStore, table: str) -> None:
    """A view over one table folder; ``union_by_name`` lets files with different extra columns line up.

    The glob ends in ``.parquet``, so temporary files of writers still at work are not read. A remote
    store (s3://, ...) is read through pyarrow instead, so DuckDB needs no credentials of its own.
    """
    if store.is_local:
        files = _sql_string(f"{store.root}/{table}/*{SUFFIX}")
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet({files}, union_by_name=true)')
    else:
        con.register(table, store.read(table))


def _mentions(sql: str, table: str) -> bool:
    return re.search(rf'(?<![\w"]){re.escape(table)}(?![\w"])|"{re.escape(table)}"', sql, re.IGNORECASE) is not None


def query(path, sql: str) -> pd.DataFrame:
    """Run ``sql`` over the store at ``path`` (one view per table) and return the result as a frame.

    A table with an unreadable file gets no view, so queries of the other tables still work; a query
    that names it is a ``DataError`` naming the file. SQL that DuckDB rejects is a ``ConfigError`` with
    DuckDB's message; SQL that returns nothing to show (empty, only comments, not a query) is one too.
    """
    store = ResultStore(path)
    if not store.exists():
        raise DataError(f"result store {store.uri} does not exist")
    tables = store.tables()
    if not tables:
        raise DataError(f"result store {store.uri} has no tables yet")
    broken = {table: files for table in tables if (files := store.broken_files(table))}
    for table, files in broken.items():
        if _mentions(sql, table):
            raise DataError(f"table {table!r}: file {files[0]} is not a readable Parquet file; remove or replace it"
                            + (f" (and {len(files) - 1} more)" if len(files) > 1 else ""))
    con = duckdb.connect(":memory:")
    try:
        for table in tables:
            if table not in broken:
                _add_view(con, store, table)
        try:
            result = con.execute(sql)
        except duckdb.Error as err:
            raise ConfigError(f"SQL error: {err}") from None
        if result is None or result.description is None:
            raise ConfigError("the SQL returns no rows to show: it is empty, only comments, or not a query "
                              "(write a SELECT)")
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
    parser = subparsers.add_parser("query", help="run SQL over the tables of a result store",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("store", help="result store directory or URI")
    parser.add_argument("sql", help='SQL; each table is a view, e.g. "SELECT penalty, avg(roc_auc) FROM '
                                    'evaluations GROUP BY penalty"')
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.set_defaults(func=run)
