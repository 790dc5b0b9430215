"""The result store: the one place results are written, as a folder of Parquet tables.

Every stage of a study (training, evaluation, Hessian, ...) runs as many independent Ray tasks, often on
several machines at once. Rather than appending to a shared file, which concurrent writers would corrupt,
each writer owns one file per table: ``<store>/<table>/<key>.parquet``. A file is written under a unique
temporary name in the same folder and then renamed over its final name, so a reader sees either the old
file or the new one, never half of either, and a crash leaves only a temporary file that readers skip.
Writing a key again replaces its file, so a rerun of a stage never duplicates rows.

Every row carries the trial keys (:data:`TRIAL_KEYS`), so any table joins any other; every table and
the types of its columns are declared in :mod:`raysym.tables` and checked on write. The store goes
through :mod:`pyarrow.fs`, so the same code writes to a local directory or to ``s3://`` on a cluster, and
DuckDB reads the folders directly for ``raysym query``.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysym.artifacts import resolve
from raysym.errors import ConfigError, DataError
from raysym.tables import BOOL, FLOAT, INT, STR, TRIAL_COLUMNS
from raysym.tables import TABLES as TABLE_SPECS

#: The columns that identify a trial; every row of every table carries them so tables join.
TRIAL_KEYS: tuple[str, ...] = tuple(TRIAL_COLUMNS)
#: Table name -> the columns it requires beyond :data:`TRIAL_KEYS` (declared in :mod:`raysym.tables`).
TABLES: dict[str, tuple[str, ...]] = {name: tuple(spec.required) for name, spec in TABLE_SPECS.items()}

def row_keys(row) -> dict:
    """The trial keys (and the bias name, where it has one) of a trials-table row: what every row a stage
    writes about that trial starts with, so it joins the other tables."""
    return {k: row[k] for k in (*TRIAL_KEYS, "bias") if k in row}


SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_=\-][A-Za-z0-9_=.\-]*")
_TABLE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def required_columns(table: str) -> tuple[str, ...]:
    """The table's keys (the trial keys, or the study for a table that is not per trial) followed by its own
    required columns."""
    _check_table(table)
    return tuple(TABLE_SPECS[table].keys) + TABLES[table]


def _check_table(table: str) -> None:
    if table not in TABLE_SPECS:
        raise ConfigError(f"unknown table {table!r}; known tables: {', '.join(sorted(TABLE_SPECS))}")


def _check_key(key: str) -> None:
    """Keys become file names, so they must not escape the table folder or look like a temporary file."""
    if not isinstance(key, str) or len(key) > 200 or not _KEY_PATTERN.fullmatch(key):
        raise ConfigError(f"store key {key!r} must be 1-200 letters, digits or - _ . = and not start with '.'")


def _to_frame(table: str, rows) -> pd.DataFrame:
    """Validate rows for ``table`` and return them with every declared column in its type, keys first.

    Declared types (strings for names, float64 for measurements and λ, int64 for counts and the seed)
    make the same trial compare equal in every table, whichever stage wrote it, and keep a table
    readable as one frame; a value that does not fit its column is refused before anything is written.
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.reset_index(drop=True)
    if frame.empty:
        raise DataError(f"table {table!r}: no rows to write")
    missing = [c for c in required_columns(table) if c not in frame.columns]
    if missing:
        raise DataError(f"table {table!r}: missing required columns {', '.join(missing)}")
    null_keys = [c for c in TABLE_SPECS[table].keys if frame[c].isna().any()]
    if null_keys:
        raise DataError(f"table {table!r}: trial key columns {', '.join(null_keys)} contain nulls")
    frame = frame.copy()
    for column, kind in TABLE_SPECS[table].types.items():
        if column in frame.columns:
            frame[column] = _typed(table, frame[column], kind)
    order = list(required_columns(table)) + [c for c in frame.columns if c not in required_columns(table)]
    return frame[order]


def _typed(table: str, column: pd.Series, kind: str) -> pd.Series:
    """``column`` in the declared type, or a ``DataError`` naming the table, column and first bad value."""
    def refuse(value, wanted: str) -> DataError:
        value = value.item() if isinstance(value, np.generic) else value
        return DataError(f"table {table!r}: column {column.name} holds {value!r}, not {wanted}")

    if kind == STR:
        bad = column[~column.map(lambda v: isinstance(v, str) or v is None)]
        if len(bad):
            raise refuse(bad.iloc[0], "text")
        return column.astype(object)
    if kind == BOOL:
        bad = column[~column.map(lambda v: isinstance(v, (bool, np.bool_)))]
        if len(bad):
            raise refuse(bad.iloc[0], "true/false")
        return column.astype(bool)
    numbers = pd.to_numeric(column, errors="coerce")
    bad = column[(numbers.isna() & column.notna()) | column.map(lambda v: isinstance(v, (bool, np.bool_, str)))]
    if len(bad):
        raise refuse(bad.iloc[0], "a number")
    if kind == FLOAT:
        return numbers.astype("float64")
    if numbers.isna().any() or not (numbers == numbers.round()).all():
        raise refuse(column[numbers.isna() | (numbers != numbers.round())].iloc[0], "a whole number")
    return numbers.astype("int64")


def _to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """Convert before any file exists, so rows Parquet cannot hold fail without leaving anything behind."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise DataError(f"table {table!r}: rows cannot be stored as Parquet ({err})") from None


class ResultStore:
    """A directory (local or remote) of Parquet tables, one folder per table, one file per writer key."""

    def __init__(self, path: str | os.PathLike):
        self.uri = os.fspath(path)
        self.fs, self.root = resolve(path)

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"ResultStore({self.uri!r})"

    def _file(self, table: str, key: str) -> str:
        return f"{self.root}/{table}/{key}{SUFFIX}"

    def write(self, table: str, rows: pd.DataFrame | list[dict], key: str) -> str:
        """Write ``rows`` as the whole content of ``(table, key)``, replacing any earlier file; return its path.

        Use one key per writer (say, the trial id, or trial id plus split) so concurrent writers never
        touch the same file.
        """
        _check_table(table)
        _check_key(key)
        data = _to_arrow(table, _to_frame(table, rows))
        folder = f"{self.root}/{table}"
        self.fs.create_dir(folder, recursive=True)
        final = self._file(table, key)
        temp = f"{folder}/.{key}.{uuid.uuid4().hex}{SUFFIX}{TEMP_SUFFIX}"
        try:
            pq.write_table(data, temp, filesystem=self.fs)
            # On local disk a rename, which replaces the old file atomically (os.replace semantics); on an
            # object store a server-side copy, and objects only ever appear whole.
            self.fs.move(temp, final)
        except BaseException:
            self._remove_quietly(temp)
            raise
        return final

    def _remove_quietly(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass

    def has(self, table: str, key: str) -> bool:
        """Whether ``(table, key)`` has been written, so a rerun can skip finished work."""
        _check_table(table)
        _check_key(key)
        return self.fs.get_file_info(self._file(table, key)).type == pafs.FileType.File

    def _files(self, table: str) -> list[pafs.FileInfo]:
        """The finished files of a table folder, in key order; temporary files are skipped."""
        selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True)
        infos = [i for i in self.fs.get_file_info(selector)
                 if i.type == pafs.FileType.File and i.base_name.endswith(SUFFIX)
                 and not i.base_name.startswith(".")]
        return sorted(infos, key=lambda i: i.base_name)

    def keys(self, table: str) -> list[str]:
        """The keys written to ``table``, sorted."""
        _check_table(table)
        return [i.base_name[: -len(SUFFIX)] for i in self._files(table)]

    def load(self, table: str) -> pd.DataFrame:
        """All rows of ``table`` (the union of columns over its files), or an empty frame with its columns.

        A store that does not exist, or a file that is not Parquet, is a ``DataError`` naming it.
        """
        _check_table(table)
        frame = self.read(table)
        if frame.empty and not len(frame.columns):
            return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in required_columns(table)})
        return frame

    def read(self, table: str) -> pd.DataFrame:
        """All rows of any table folder, declared in :mod:`raysym.tables` or not (an older version's table).

        Files are read one by one and concatenated by column name, so files written with different extra
        columns load together; a column a file lacks is missing (NaN) in its rows.
        """
        if not _TABLE_PATTERN.fullmatch(table):
            raise ConfigError(f"table name {table!r} must be lower-case letters, digits and _")
        self.require()
        frames = [self.read_file(table, info.path) for info in self._files(table)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True, sort=False)

    def read_file(self, table: str, path: str) -> pd.DataFrame:
        """One file of ``table``; a file that cannot be read as Parquet is a ``DataError`` naming both."""
        try:
            return pq.read_table(path, filesystem=self.fs).to_pandas()
        except (pa.ArrowException, OSError) as err:
            raise DataError(f"table {table!r}: file {path} is not a readable Parquet file ({err}); "
                            "remove or replace it") from None

    def broken_files(self, table: str) -> list[str]:
        """The files of ``table`` whose Parquet footer cannot be read (a cheap check, no data read)."""
        broken = []
        for info in self._files(table):
            try:
                pq.read_metadata(info.path, filesystem=self.fs)
            except (pa.ArrowException, OSError):
                broken.append(info.path)
        return broken

    def tables(self) -> list[str]:
        """Table folders holding at least one finished file, sorted; includes tables not declared here."""
        self.require()
        return sorted(name for name in self._table_folders() if _TABLE_PATTERN.fullmatch(name) and self._files(name))

    def create(self) -> "ResultStore":
        """Make the store's root folder (a no-op when it exists); return the store."""
        self.fs.create_dir(self.root, recursive=True)
        return self

    def require(self) -> None:
        """A ``DataError`` naming the store unless its root folder exists (a typo in a path, say)."""
        if not self.exists():
            raise DataError(f"result store {self.uri} does not exist")

    def exists(self) -> bool:
        """Whether the store's root directory exists."""
        return self.fs.get_file_info(self.root).type == pafs.FileType.Directory

    def clean(self, older_than_s: float = 3600.0) -> list[str]:
        """Delete temporary files that crashed writers left behind; return their paths.

        Only files older than ``older_than_s`` go, so a writer still busy with its file is not disturbed.
        """
        cutoff = time.time() - older_than_s
        removed = []
        for table in self._table_folders():
            selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if info.base_name.endswith(TEMP_SUFFIX) and info.mtime is not None \
                        and info.mtime.timestamp() < cutoff:
                    self._remove_quietly(info.path)
                    removed.append(info.path)
        return removed

    def _table_folders(self) -> list[str]:
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        return [i.base_name for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory]


def _empty_dtype(column: str) -> str:
    """Dtypes of an empty table's trial keys match those of a written one, so code that concatenates works."""
    return {FLOAT: "float64", INT: "int64", BOOL: "bool"}.get(TRIAL_COLUMNS.get(column), "object")


def load(path: str | os.PathLike, table: str) -> pd.DataFrame:
    """All rows of ``table`` in the store at ``path``: ``ResultStore(path).load(table)``; a path that is not
    a store is a ``DataError`` naming it."""
    return ResultStore(path).load(table)
