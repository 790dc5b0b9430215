"""The result store: the one place results are written, as a folder of Parquet tables.

Every stage of a study (training, evaluation, Hessian, ...) runs as many independent Ray tasks, often on
several machines at once. Rather than appending to a shared file, which concurrent writers would corrupt,
each writer owns one file per table: ``<store>/<table>/<key>.parquet``. A file is written under a unique
temporary name in the same folder and then renamed over its final name, so a reader sees either the old
file or the new one, never half of either, and a crash leaves only a temporary file that readers skip.
Writing a key again replaces its file, so a rerun of a stage never duplicates rows.

Every row carries the trial keys (:data:`TRIAL_KEYS`), so any table joins any other; every table and
the types of its columns are declared in :mod:`raysym.tables` and checked on write, and again on read:
a file under a table folder that is not what the store writes there (not Parquet, a column of another
type, a required column missing, a folder named like a file) is skipped by every reader with a warning
naming it, never mixed into the table, and :meth:`ResultStore.set_aside` moves such files out of the
table folders. The store goes through :mod:`pyarrow.fs`, so the same code writes to a local directory or
to ``s3://`` on a cluster, and ``raysym query`` reads the files the store vouches for.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import posixpath
import re
import time
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from raysym.artifacts import is_uri, located, normalise, relative_location, resolve
from raysym.errors import ConfigError, DataError
from raysym.tables import BOOL, FLOAT, INT, PATH, STR, TRIAL_COLUMNS
from raysym.tables import TABLES as TABLE_SPECS

log = logging.getLogger(__name__)

#: The columns that identify a trial; every row of every table carries them so tables join.
TRIAL_KEYS: tuple[str, ...] = tuple(TRIAL_COLUMNS)
#: Table name -> the columns it requires beyond :data:`TRIAL_KEYS` (declared in :mod:`raysym.tables`).
TABLES: dict[str, tuple[str, ...]] = {name: tuple(spec.required) for name, spec in TABLE_SPECS.items()}

def row_keys(row) -> dict:
    """The trial keys (and the bias name, where it has one) of a trials-table row: what every row a stage
    writes about that trial starts with, so it joins the other tables."""
    return {k: row[k] for k in (*TRIAL_KEYS, "bias") if k in row}


#: The layout of keys and rows this version writes (raysym.study.migration carries older stores over). 1: the
#: keys before one identity rule (no schema file); 2: every section's key hashes all its fields but an
#: excluded set (raysym.settings_key), and every row of an analysed model records its epoch, best and bias;
#: 3: data sets are declarations: a run's record names its data set (``data.dataset``, ``data.path``) and its
#: ``studies`` row records the data set's classes and tasks (``dataset_json``).
SCHEMA_VERSION = 3
SCHEMA_FILE = "_schema.json"
SUFFIX = ".parquet"
TEMP_SUFFIX = ".tmp"
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_=\-][A-Za-z0-9_=.\-]*")
_TABLE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
#: Where :meth:`ResultStore.set_aside` puts files that do not belong in their table: a folder whose leading
#: ``_`` no table name can have (:data:`_TABLE_PATTERN`), so no reader lists it as a table.
REJECTED_FOLDER = "_rejected"
#: The Arrow types a declared column may have in a file: its own, or null (a column with no values).
_ARROW_TYPES = {FLOAT: (pa.float64(),), INT: (pa.int64(),), BOOL: (pa.bool_(),),
                STR: (pa.string(), pa.large_string(), pa.string_view())}
_ARROW_TYPES[PATH] = _ARROW_TYPES[STR]


def required_columns(table: str) -> tuple[str, ...]:
    """The table's keys (the trial keys, or the study for a table that is not per trial) followed by its own
    required columns."""
    _check_table(table)
    return tuple(TABLE_SPECS[table].keys) + tuple(TABLE_SPECS[table].required)


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

    if kind in (STR, PATH):
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


def schema_problem(table: str, schema: pa.Schema) -> str | None:
    """What makes a file with ``schema`` unfit for ``table`` (a required column missing, a declared column of
    another type), or None when it fits.

    The store writes every declared column in its declared type, so a file that differs was not written by
    it (or by an older, incompatible version); read with the others it would turn a column into text for
    the whole table. Extra, undeclared columns are fine, and so is a table nobody declared (an older
    version's): only what :mod:`raysym.tables` declares is checked.
    """
    if table not in TABLE_SPECS:
        return None
    names = schema.names
    missing = [c for c in required_columns(table) if c not in names]
    if missing:
        return f"required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing"
    for column, kind in TABLE_SPECS[table].types.items():
        if names.count(column) > 1:
            return f"column {column} appears {names.count(column)} times"
        if column in names:
            found = schema.field(column).type
            if not (pa.types.is_null(found) or found in _ARROW_TYPES[kind]):
                return f"column {column} is {_type_name(found)}, declared {kind}"
    return None


def _type_name(arrow_type: pa.DataType) -> str:
    """Arrow's name of a type, with its three string types (Parquet does not tell them apart) as one."""
    return "string" if arrow_type in _ARROW_TYPES[STR] else str(arrow_type)


@dataclasses.dataclass(frozen=True)
class Rejected:
    """An entry of a table folder that readers skip: its path, why, whether it is a folder, and where
    :meth:`ResultStore.set_aside` moved it (None until then)."""

    table: str
    path: str
    problem: str
    moved_to: str | None = None
    folder: bool = False

    def __str__(self) -> str:
        where = f"; moved to {self.moved_to}" if self.moved_to else ""
        return f"table {self.table!r}: file {self.path}: {self.problem}{where}"


_OPEN_PREAMBLE = re.compile(r"^Could not open Parquet input source '.*?': ")
#: Why a folder named like a result file is skipped.
_FOLDER = "a folder, not a Parquet file"


def _unreadable(err: Exception) -> str:
    """Why pyarrow could not read a file, without its preamble repeating the path (the message names it)."""
    return f"not a readable Parquet file ({_OPEN_PREAMBLE.sub('', str(err))})"


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
        try:
            self.fs, self.root = resolve(path)
        except (pa.ArrowException, OSError) as err:
            raise DataError(f"result store {self.uri} cannot be opened: {_reason(err)}") from None

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"ResultStore({self.uri!r})"

    def _file(self, table: str, key: str) -> str:
        return f"{self.root}/{table}/{key}{SUFFIX}"

    @property
    def home(self) -> str:
        """The folder that holds the store (a study's output location): the files :data:`raysym.tables.PATH`
        columns name are kept relative to it."""
        uri = normalise(self.uri)
        return posixpath.dirname(uri) if is_uri(uri) else os.path.dirname(uri)

    def _paths(self, table: str, frame: pd.DataFrame, convert) -> pd.DataFrame:
        """``frame`` with ``convert(value, home)`` applied to each value of ``table``'s PATH columns."""
        columns = [c for c, kind in TABLE_SPECS[table].types.items()
                   if kind == PATH and c in frame.columns] if table in TABLE_SPECS else []
        if not columns:
            return frame
        frame = frame.copy()
        for column in columns:
            frame[column] = frame[column].map(lambda v: convert(v, self.home) if isinstance(v, str) else v)
        return frame

    def write(self, table: str, rows: pd.DataFrame | list[dict], key: str) -> str:
        """Write ``rows`` as the whole content of ``(table, key)``, replacing any earlier file; return its path.
        Locations in PATH columns below the store's :attr:`home` are stored relative to it.

        Use one key per writer (say, the trial id, or trial id plus split) so concurrent writers never
        touch the same file.
        """
        _check_table(table)
        _check_key(key)
        data = _to_arrow(table, self._paths(table, _to_frame(table, rows), relative_location))
        folder = f"{self.root}/{table}"
        self._record_schema_if_new()
        self.fs.create_dir(folder, recursive=True)
        final = self._file(table, key)
        temp = f"{folder}/.{key}.{uuid.uuid4().hex}{SUFFIX}{TEMP_SUFFIX}"
        try:
            pq.write_table(data, temp, filesystem=self.fs)
            self._move_into_place(table, temp, final)
        except BaseException:
            self._remove_quietly(temp)
            raise
        return final

    def _move_into_place(self, table: str, temp: str, final: str) -> None:
        """Rename the finished temporary file over ``final``.

        On local disk a rename replaces the old file atomically (os.replace semantics); on an object store
        it is a server-side copy, and objects only ever appear whole. A folder named like the file cannot
        be replaced by a file, so it is set aside (as :meth:`set_aside` would) and the rename tried again:
        writing a key replaces whatever held its name.
        """
        try:
            self.fs.move(temp, final)
        except OSError:
            if self.fs.get_file_info(final).type != pafs.FileType.Directory:
                raise
            self._move_aside(Rejected(table, final, _FOLDER, folder=True))
            self.fs.move(temp, final)

    def _remove_quietly(self, path: str) -> None:
        try:
            self.fs.delete_file(path)
        except (FileNotFoundError, OSError):
            pass

    def has(self, table: str, key: str) -> bool:
        """Whether ``(table, key)`` holds a result readers use, so a rerun can skip finished work.

        A file readers skip (see :meth:`rejected`) does not count, so a rerun computes that result again.
        """
        _check_table(table)
        _check_key(key)
        info = self.fs.get_file_info(self._file(table, key))
        return info.type == pafs.FileType.File and self._footer(table, info)[1] is None

    def _entries(self, table: str) -> list[pafs.FileInfo]:
        """Everything in a table folder named like a finished file (``<key>.parquet``), folders too, in key
        order; temporary files (a leading ``.``) are left out.

        An object store can hold a file and a "folder" (a key prefix) of the same name; there the file is
        the result, and the folder counts only while it holds files: moving its last file out leaves an
        empty marker that no filesystem call can remove while the file exists.
        """
        selector = pafs.FileSelector(f"{self.root}/{table}", allow_not_found=True)
        infos = [i for i in self.fs.get_file_info(selector)
                 if i.type in (pafs.FileType.File, pafs.FileType.Directory)
                 and i.base_name.endswith(SUFFIX) and not i.base_name.startswith(".")]
        files = {i.base_name for i in infos if i.type == pafs.FileType.File}
        infos = [i for i in infos if i.type == pafs.FileType.File or i.base_name not in files
                 or self._holds_files(i.path)]
        return sorted(infos, key=lambda i: (i.base_name, i.type != pafs.FileType.File))

    def _holds_files(self, folder: str) -> bool:
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        return any(i.type == pafs.FileType.File for i in self.fs.get_file_info(selector))

    def _footer(self, table: str, info: pafs.FileInfo) -> tuple[pa.Schema | None, str | None]:
        """The schema of one entry from its Parquet footer alone (no data read), and what is wrong with it."""
        if info.type == pafs.FileType.Directory:
            return None, _FOLDER
        try:
            schema = pq.read_schema(info.path, filesystem=self.fs)
        except (pa.ArrowException, OSError) as err:
            return None, _unreadable(err)
        return schema, schema_problem(table, schema)

    def checked_files(self, table: str) -> dict[str, pa.Schema]:
        """The files of ``table`` readers use, in key order, with their schemas (read from footers only); each
        entry they skip is logged as a warning naming it and what is wrong (:meth:`rejected`)."""
        usable = {}
        for info in self._entries(table):
            schema, problem = self._footer(table, info)
            if problem is None:
                usable[info.path] = schema
            else:
                _warn_skipped(_rejected(table, info, problem))
        return usable

    def rejected(self, table: str) -> list[Rejected]:
        """The entries of ``table``'s folder that readers skip, and why: not a readable Parquet file, a
        required column missing, a declared column of another type (:func:`schema_problem`), or a folder
        named like a file. Footers only, so cheap."""
        found = []
        for info in self._entries(table):
            problem = self._footer(table, info)[1]
            if problem is not None:
                found.append(_rejected(table, info, problem))
        return found

    def keys(self, table: str) -> list[str]:
        """The keys of ``table`` that hold a result readers use, sorted (the same keys :meth:`has` is True for)."""
        _check_table(table)
        return [posixpath.basename(path)[: -len(SUFFIX)] for path in self.checked_files(table)]

    def load(self, table: str) -> pd.DataFrame:
        """All rows of ``table`` (the union of columns over its files), or an empty frame with its columns.

        A store that does not exist or cannot be reached is a ``DataError`` naming it. A file that is not
        Parquet, or does not fit the table's declared columns, is skipped with a warning naming it (the same
        rule as ``raysym query``), so its rows never mix in; :meth:`set_aside` moves such files away.
        """
        _check_table(table)
        frame = self.read(table)
        if frame.empty and not len(frame.columns):
            return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in required_columns(table)})
        return frame

    def read(self, table: str) -> pd.DataFrame:
        """All rows of any table folder, declared in :mod:`raysym.tables` or not (an older version's table).

        Files are read one by one and concatenated by column name, so files written with different extra
        columns load together; a column a file lacks is missing (NaN) in its rows. Each file's schema is
        checked as it is read (:meth:`load` says what is skipped).
        """
        if not _TABLE_PATTERN.fullmatch(table):
            raise ConfigError(f"table name {table!r} must be lower-case letters, digits and _")
        self.require()
        frames = []
        for info in self._entries(table):
            data, problem = self._read_entry(table, info)
            if problem is None:
                frames.append(data.to_pandas())
            else:
                _warn_skipped(_rejected(table, info, problem))
        if not frames:
            return pd.DataFrame()
        return self._paths(table, pd.concat(frames, ignore_index=True, sort=False), located)

    def _read_entry(self, table: str, info: pafs.FileInfo) -> tuple[pa.Table | None, str | None]:
        """One entry's rows and what is wrong with them; a folder is never read (pyarrow would read the
        Parquet files inside it as one data set)."""
        if info.type == pafs.FileType.Directory:
            return None, _FOLDER
        try:
            data = pq.read_table(info.path, filesystem=self.fs)
        except (pa.ArrowException, OSError) as err:
            return None, _unreadable(err)
        return data, schema_problem(table, data.schema)

    def read_file(self, table: str, path: str) -> pd.DataFrame:
        """One file of ``table``; a file readers would skip is a ``DataError`` naming it and why."""
        data, problem = self._read_entry(table, self.fs.get_file_info(path))
        if problem is not None:
            raise DataError(f"{Rejected(table, path, problem)}; remove or replace it")
        return self._paths(table, data.to_pandas(), located)

    def set_aside(self, tables: list[str] | None = None) -> list[Rejected]:
        """Move every entry readers skip (:meth:`rejected`) out of the table folders, into
        ``<store>/_rejected/<table>/<key>.<time>.<id>.parquet``; return them, with where each went.

        For writers, at start-up (a study calls it before its first stage, with :meth:`clean`): with a bad
        file out of the way, :meth:`has` stays False for its key, the stage computes that result again, and
        writing the key succeeds even where a folder held its name. The files are kept for a person to look
        at, in a folder no reader lists (its leading ``_`` is no table name). Readers (``raysym query``,
        the report) never call it: reading a store leaves it as it is. ``tables``: only these tables.
        """
        for table in tables or ():
            if not _TABLE_PATTERN.fullmatch(table):
                raise ConfigError(f"table name {table!r} must be lower-case letters, digits and _")
        if not self.exists():
            return []
        names = tables if tables is not None else [t for t in self._table_folders() if _TABLE_PATTERN.fullmatch(t)]
        return [self._move_aside(bad) for table in names for bad in self.rejected(table)]

    def _move_aside(self, bad: Rejected) -> Rejected:
        """Move one rejected entry (a file, or a folder with whatever it holds) into the rejected folder."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        key = posixpath.basename(bad.path)[: -len(SUFFIX)]
        target = f"{self.root}/{REJECTED_FOLDER}/{bad.table}/{key}.{stamp}.{uuid.uuid4().hex[:8]}{SUFFIX}"
        if bad.folder:  # not asked of the path: in an object store a file and a folder can share it
            self._move_folder(bad.path, target)
        else:
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
            self.fs.move(bad.path, target)
        moved = dataclasses.replace(bad, moved_to=target)
        log.warning("%s", moved)
        return moved

    def _move_folder(self, source: str, target: str) -> None:
        """Move a folder file by file, which every filesystem supports (an object store cannot rename a
        prefix), then remove what is left of it on a filesystem with real folders (in an object store the
        folder is gone with its last file, and a file of the same name may stay)."""
        self.fs.create_dir(target, recursive=True)
        for info in self.fs.get_file_info(pafs.FileSelector(source, recursive=True)):
            if info.type == pafs.FileType.File:
                destination = target + info.path[len(source):]
                self.fs.create_dir(posixpath.dirname(destination), recursive=True)
                self.fs.move(info.path, destination)
        if self.fs.get_file_info(source).type == pafs.FileType.Directory:
            self.fs.delete_dir(source)

    def tables(self) -> list[str]:
        """Table folders holding at least one entry named like a finished file, sorted; includes tables not
        declared here. Whether their files are usable is up to the readers (:meth:`rejected`)."""
        self.require()
        return sorted(name for name in self._table_folders()
                      if _TABLE_PATTERN.fullmatch(name) and self._entries(name))

    def create(self) -> "ResultStore":
        """Make the store's root folder (a no-op when it exists); return the store. A new store records the
        current :data:`SCHEMA_VERSION`."""
        self.fs.create_dir(self.root, recursive=True)
        self._record_schema_if_new()
        return self

    def _record_schema_if_new(self) -> None:
        """A store about to get its first table records the current schema (checked once per instance); a
        store that has tables and no schema file was written before stores recorded one and stays so."""
        if getattr(self, "_schema_known", False):
            return
        self._schema_known = True
        if self._schema() is None and not any(_TABLE_PATTERN.fullmatch(n) and self._entries(n)
                                              for n in self._table_folders()):
            self.fs.create_dir(self.root, recursive=True)
            self.set_schema_version(SCHEMA_VERSION)

    def _schema(self) -> dict | None:
        info = self.fs.get_file_info(f"{self.root}/{SCHEMA_FILE}")
        if info.type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(info.path) as stream:
            try:
                return json.loads(stream.read())
            except ValueError:
                raise DataError(f"result store {self.uri}: {SCHEMA_FILE} is not JSON") from None

    def schema_version(self) -> int:
        """The schema the store's results are written in: its schema file's, 1 for a store with tables and
        no such file (written before stores recorded one), the current one for an empty store."""
        recorded = self._schema()
        if recorded is not None:
            return int(recorded["version"])
        return 1 if any(_TABLE_PATTERN.fullmatch(n) and self._entries(n) for n in self._table_folders()) \
            else SCHEMA_VERSION

    def set_schema_version(self, version: int, **details: Any) -> None:
        """Record the store's schema (written whole or not at all)."""
        temp = f"{self.root}/.{SCHEMA_FILE}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
        with self.fs.open_output_stream(temp) as stream:
            stream.write(json.dumps({"version": version, **details}).encode())
        self.fs.move(temp, f"{self.root}/{SCHEMA_FILE}")

    def require(self) -> None:
        """A ``DataError`` naming the store unless its root folder exists (a typo in a path, say) and can be
        reached."""
        if not self.exists():
            raise DataError(f"result store {self.uri} does not exist")

    def exists(self) -> bool:
        """Whether the store's root directory exists; a store that cannot be reached (no server at an
        ``s3://`` endpoint, refused credentials) is a ``DataError`` naming it and why, not a bare OSError."""
        try:
            return self.fs.get_file_info(self.root).type == pafs.FileType.Directory
        except OSError as err:
            raise DataError(f"result store {self.uri} cannot be reached: {_reason(err)}") from None

    def clean(self, older_than_s: float = 3600.0) -> list[str]:
        """Delete temporary files that crashed writers left behind; return their paths.

        For writers at start-up, like :meth:`set_aside`. Only files older than ``older_than_s`` go, so a
        writer still busy with its file is not disturbed.
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


def _rejected(table: str, info: pafs.FileInfo, problem: str) -> Rejected:
    return Rejected(table, info.path, problem, folder=info.type == pafs.FileType.Directory)


def _warn_skipped(rejected: Rejected) -> None:
    """Readers skip a bad entry rather than fail: the rest of the table is still good, and a study sets the
    entry aside and recomputes it (:meth:`ResultStore.set_aside`)."""
    log.warning("%s; skipped (a study run moves it to %s/)", rejected, REJECTED_FOLDER)


def _reason(err: Exception) -> str:
    """A filesystem error's message without pyarrow's preamble repeating the path (the store is named)."""
    return re.sub(r"^When [^:]*: ", "", str(err).strip())


def _empty_dtype(column: str) -> str:
    """Dtypes of an empty table's trial keys match those of a written one, so code that concatenates works."""
    return {FLOAT: "float64", INT: "int64", BOOL: "bool"}.get(TRIAL_COLUMNS.get(column), "object")


def load(path: str | os.PathLike, table: str) -> pd.DataFrame:
    """All rows of ``table`` in the store at ``path``: ``ResultStore(path).load(table)``; a path that is not
    a store is a ``DataError`` naming it."""
    return ResultStore(path).load(table)
