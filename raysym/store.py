"""The result store: the one place results are written, as a folder of Parquet tables.

Every stage of a study (training, evaluation, Hessian, ...) runs as many independent Ray tasks, often on
several machines at once. Rather than appending to a shared file, which concurrent writers would corrupt,
each writer owns one file per table: ``<store>/<table>/<key>.parquet``. A file is written under a unique
temporary name in the same folder and then renamed over its final name, so a reader sees either the old
file or the new one, never half of either, and a crash leaves only a temporary file that readers skip.
Writing a key again replaces its file, so a rerun of a stage never duplicates rows.

Every row carries the trial keys (:data:`TRIAL_KEYS`), so any table joins any other. The store goes
through :mod:`pyarrow.fs`, so the same code writes to a local directory or to ``s3://`` on a cluster, and
DuckDB reads the folders directly for ``raysym query``.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysym.errors import ConfigError, DataError

#: The columns that identify a trial; every row of every table carries them so tables join.
TRIAL_KEYS = ("study", "trial_id", "model", "penalty", "lam", "seed")

#: Table name -> columns it requires beyond :data:`TRIAL_KEYS`. Extend with :func:`register_table`.
TABLES: dict[str, tuple[str, ...]] = {
    "trials": ("n_parameters", "best_epoch", "best_val_loss", "epochs", "model_path", "model_preset",
               "task"),
    "epochs": ("epoch", "train_bce", "train_penalty", "train_loss", "val_loss", "val_bce", "val_penalty",
               "val_accuracy", "val_roc_auc", "epoch_seconds", "jets_per_second"),
    "evaluations": ("task", "split", "accuracy", "roc_auc", "n_jets"),
    "roc": ("task", "split", "fpr", "tpr", "threshold"),
}

SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_=\-][A-Za-z0-9_=.\-]*")
_TABLE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_STRING_KEYS = ("study", "trial_id", "model", "penalty")


def register_table(name: str, columns: tuple[str, ...]) -> None:
    """Add a table to the schema, for stages that bring their own results (hessian, goldstone, ...).

    Registering the same name with the same columns again is a no-op, so a module may register at import.
    """
    if not _TABLE_PATTERN.fullmatch(name):
        raise ConfigError(f"table name {name!r} must be lower-case letters, digits and _, starting with a letter")
    columns = tuple(c for c in dict.fromkeys(columns) if c not in TRIAL_KEYS)
    if name in TABLES and TABLES[name] != columns:
        raise ConfigError(f"table {name!r} is already registered with columns {TABLES[name]}")
    TABLES[name] = columns


def required_columns(table: str) -> tuple[str, ...]:
    """The trial keys followed by the table's own required columns."""
    _check_table(table)
    return TRIAL_KEYS + TABLES[table]


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ConfigError(f"unknown table {table!r}; known tables: {', '.join(sorted(TABLES))}")


def _check_key(key: str) -> None:
    """Keys become file names, so they must not escape the table folder or look like a temporary file."""
    if not isinstance(key, str) or len(key) > 200 or not _KEY_PATTERN.fullmatch(key):
        raise ConfigError(f"store key {key!r} must be 1-200 letters, digits or - _ . = and not start with '.'")


def _to_frame(table: str, rows) -> pd.DataFrame:
    """Validate rows for ``table`` and return them with trial keys in canonical types, keys first.

    Canonical types (strings for the names, float64 λ, int64 seed) make the same trial compare equal in
    every table, whichever stage wrote it.
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.reset_index(drop=True)
    if frame.empty:
        raise DataError(f"table {table!r}: no rows to write")
    missing = [c for c in required_columns(table) if c not in frame.columns]
    if missing:
        raise DataError(f"table {table!r}: missing required columns {', '.join(missing)}")
    null_keys = [c for c in TRIAL_KEYS if frame[c].isna().any()]
    if null_keys:
        raise DataError(f"table {table!r}: trial key columns {', '.join(null_keys)} contain nulls")
    frame = frame.copy()
    for column in _STRING_KEYS:
        frame[column] = frame[column].astype(str)
    frame["lam"] = _numeric(table, frame["lam"]).astype("float64")
    seed = _numeric(table, frame["seed"])
    if not (seed == seed.round()).all():
        raise DataError(f"table {table!r}: seed must be whole numbers")
    frame["seed"] = seed.astype("int64")
    order = list(required_columns(table)) + [c for c in frame.columns if c not in required_columns(table)]
    return frame[order]


def _numeric(table: str, column: pd.Series) -> pd.Series:
    try:
        return pd.to_numeric(column)
    except (TypeError, ValueError) as err:
        raise DataError(f"table {table!r}: column {column.name} must be numeric ({err})") from None


def _to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """Convert before any file exists, so rows Parquet cannot hold fail without leaving anything behind."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise DataError(f"table {table!r}: rows cannot be stored as Parquet ({err})") from None


def _resolve(path: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """A filesystem and root for a local path or any URI pyarrow understands (file://, s3://, ...)."""
    text = os.fspath(path)
    if "://" in text:
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), os.path.abspath(text)


class ResultStore:
    """A directory (local or remote) of Parquet tables, one folder per table, one file per writer key."""

    def __init__(self, path: str | os.PathLike):
        self.uri = os.fspath(path)
        self.fs, self.root = _resolve(path)

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
        """All rows of ``table`` (the union of columns over its files), or an empty frame with its columns."""
        _check_table(table)
        frame = self.read(table)
        if frame.empty and not len(frame.columns):
            return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in required_columns(table)})
        return frame

    def read(self, table: str) -> pd.DataFrame:
        """All rows of any table folder, registered here or not (a later stage's table, say).

        Files are read one by one and concatenated by column name, so files written with different extra
        columns load together; a column a file lacks is missing (NaN) in its rows.
        """
        if not _TABLE_PATTERN.fullmatch(table):
            raise ConfigError(f"table name {table!r} must be lower-case letters, digits and _")
        frames = [pq.read_table(i.path, filesystem=self.fs).to_pandas() for i in self._files(table)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True, sort=False)

    def tables(self) -> list[str]:
        """Table folders holding at least one finished file, sorted; includes tables not registered here."""
        return sorted(name for name in self._table_folders() if _TABLE_PATTERN.fullmatch(name) and self._files(name))

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
    return {"lam": "float64", "seed": "int64"}.get(column, "str" if column in _STRING_KEYS else "object")


def load(path: str | os.PathLike, table: str) -> pd.DataFrame:
    """All rows of ``table`` in the store at ``path``: ``ResultStore(path).load(table)``."""
    return ResultStore(path).load(table)
