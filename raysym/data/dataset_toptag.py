"""The top-tagging reference data set as a declaration, its reader and a writer of its layout.

Kasieczka, Plehn et al., "The Machine Learning Landscape of Top Taggers", SciPost Phys. 7 (2019) 014,
published its jets as ``train.h5``, ``val.h5`` and ``test.h5`` on Zenodo (record 2603256): 14 TeV
top-quark jets (signal) and QCD jets (background) with pT in 550–650 GeV, two classes and one task.

The layout, read from the files and from the public loaders that read them (energyflow, JetNet's
``TopTagging``, particle_transformer's ``utils/convert_top_datasets.py``, which all call
``pandas.read_hdf(path, key="table")``): each file is one pandas DataFrame written by
``DataFrame.to_hdf(key="table", format="table")``, i.e. a PyTables table. The frame has 806 columns,
in this order: ``E_0, PX_0, PY_0, PZ_0, ..., E_199, PX_199, PY_199, PZ_199`` (200 constituents, leading
first, zero-padded, GeV, float32), ``truthE, truthPX, truthPY, truthPZ`` (the top quark's four-momentum,
zero for QCD jets), ``ttv`` (0 train, 1 test, 2 validation) and ``is_signal_new`` (1 top, 0 QCD); the last
two are int64. In HDF5 this is a group ``/table`` (attribute ``pandas_type = "frame_table"``) holding a
compound data set ``/table/table`` with one record per jet: ``index`` (int64), ``values_block_0`` (the
804 float32 columns) and ``values_block_1`` (the two int64 columns). Which column sits where in a block
is stored as the block's attribute ``values_block_<k>_kind``: the column names, pickled by PyTables
(protocol 0). pandas' other format, ``"fixed"`` (``pandas_type = "frame"``: ``block<k>_values`` arrays),
is not what the published files use and is refused with a note on how to convert.

The reader needs neither pandas nor PyTables: h5py reads the compound records, and the column names are
unpickled by an unpickler that can build only lists, tuples and strings, so a hostile file cannot run
code. Columns are found by name (a block's column order, or a column written as its own data column,
does not matter). Jets are read in chunks, checked by :mod:`raysym.data.constituent_checks`, and every
way a file can be unusable is one ``DataError`` naming the file and the problem (and the first bad jet).
The writer (:func:`write_toptag_file`) uses pandas itself, so what it writes is the published layout by
construction: the offline generator and the benchmarks write jets through it.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from raysym.data.constituent_checks import (
    MAX_DECLARED_PER_STORED,
    REAL_KINDS,
    allocate,
    check_memory,
    check_unique_jets,
    chunk_length,
    describe_source,
    folder_files,
    given_files,
    jet_kinematics,
    leading_constituents,
)
from raysym.data.dataset_spec import DatasetSpec, Source, register_dataset
from raysym.data.jetset import N_CONSTITUENTS, JetSet
from raysym.data.tasks import TaskSpec
from raysym.errors import ConfigError, DataError

#: The pandas key (HDF5 group) of the published files.
KEY = "table"
#: The compound data set of one record per jet inside that group (pandas' "table" format).
RECORDS = f"{KEY}/table"
#: Constituents per jet in the published files.
STORED_CONSTITUENTS = 200
#: Columns of one constituent in file order, and the order :func:`leading_constituents` takes them in.
CONSTITUENT_COLUMNS = ("E", "PX", "PY", "PZ")
MOMENTUM_ORDER = ("PX", "PY", "PZ", "E")
TRUTH_COLUMNS = ("truthE", "truthPX", "truthPY", "truthPZ")
SPLIT_COLUMN = "ttv"
LABEL_COLUMN = "is_signal_new"
#: The 806 columns of the published frame, in order.
COLUMNS: tuple[str, ...] = (
    tuple(f"{name}_{i}" for i in range(STORED_CONSTITUENTS) for name in CONSTITUENT_COLUMNS)
    + TRUTH_COLUMNS + (SPLIT_COLUMN, LABEL_COLUMN)
)
#: ``ttv`` codes of the published files: train.h5 holds 0, test.h5 1, val.h5 2.
SPLIT_CODES = {"train": 0, "test": 1, "val": 2}
#: Jets read at a time: 2048 records of 3,240 bytes are ~7 MB, their momenta in float64 ~13 MB.
CHUNK_JETS = 2048
#: The most bytes a pickled list of column names may have (806 names pickle to ~9 kB).
MAX_NAMES_BYTES = 1 << 20

CLASSES: tuple[str, ...] = ("qcd", "top")
TASKS: tuple[TaskSpec, ...] = (TaskSpec("top_vs_qcd", ("top",), ("qcd",), "in", "top vs QCD"),)


# -- files ----------------------------------------------------------------------------------------------

def resolve_files(source: Source) -> list[Path]:
    """The files ``source`` names, absolute: a folder gives its ``*.h5`` files sorted by name (the
    published ``test.h5``, ``train.h5``, ``val.h5``); one file or a list of files is taken as given.
    Nothing to read, a missing file, or a file listed twice is a ``DataError``."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return folder_files(Path(source), "*.h5")
    return given_files(source, "top-tagging files")


# -- layout ---------------------------------------------------------------------------------------------

class _NamesOnly(pickle.Unpickler):
    """Unpickles lists, tuples and strings only: any reference to a class or function (the way a pickle
    runs code) is refused, so a column-name attribute of a hostile file is data, never code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refers to {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refers to a persistent object")


def _column_names(value, what: str, path: Path) -> list[str]:
    """The column names PyTables stored for ``what``: a pickled list (what pandas writes) or an array of
    strings."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "SUO":
        names = list(value)
    elif isinstance(value, (bytes, np.bytes_)) and len(value) <= MAX_NAMES_BYTES:
        try:
            names = _NamesOnly(io.BytesIO(bytes(value)), encoding="utf-8").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                AttributeError, RecursionError) as err:  # a malformed pickle: not a list of names
            raise DataError(f"{path}: the column names of {what} are not a pickled list of names "
                            f"({type(err).__name__}: {err})") from None
    else:
        raise DataError(f"{path}: the column names of {what} are stored as {type(value).__name__}, "
                        f"not as a list of names")
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (str, bytes)) for n in names):
        raise DataError(f"{path}: the column names of {what} are not a list of strings")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]


@dataclass(frozen=True)
class _Layout:
    """Where one file keeps what the reader needs, found by name."""

    n_jets: int
    #: For each record field holding momenta: (field, indices into the (200 × [px, py, pz, E]) block,
    #: positions within the field).
    momentum_sources: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    label: tuple[str, int]  # (field, position) of is_signal_new
    chunk_rows: int | None


def _pandas_table(f: h5py.File, path: Path) -> h5py.Dataset:
    """The records of a pandas "table"-format frame under :data:`KEY`, or the reason the file is not one."""
    if KEY not in f:
        raise DataError(f"{path}: no {KEY!r} group; the top-tagging files hold one pandas frame under the "
                        f"key {KEY!r} (found {', '.join(sorted(f)) or 'nothing'})")
    group = f[KEY]
    kind = group.attrs.get("pandas_type") if isinstance(group, h5py.Group) else None
    kind = kind.decode() if isinstance(kind, bytes) else kind
    if kind == "frame":
        raise DataError(f"{path}: the frame under {KEY!r} is in pandas' 'fixed' format; the published files use "
                        "format='table' (convert with pandas.read_hdf(path, 'table').to_hdf(new_path, key='table', "
                        "format='table'))")
    if kind != "frame_table" or "table" not in group or not isinstance(group["table"], h5py.Dataset):
        raise DataError(f"{path}: {KEY!r} is not a pandas frame in 'table' format (pandas_type {kind!r}); "
                        "the file does not match the top-tagging layout")
    records = group["table"]
    if records.ndim != 1 or records.dtype.names is None:
        raise DataError(f"{path}: {RECORDS} has shape {records.shape} and dtype {records.dtype}, expected one "
                        "record per jet")
    return records


def _field_columns(records: h5py.Dataset, path: Path) -> dict[str, tuple[str, int]]:
    """Every column name → (record field, position in it), from the fields' ``<field>_kind`` attributes;
    each field's element type checked to be real numbers and its width to match its names."""
    located: dict[str, tuple[str, int]] = {}
    for field in records.dtype.names:
        if field == "index":
            continue
        base, shape = records.dtype[field].base, records.dtype[field].shape
        if len(shape) > 1:
            raise DataError(f"{path}: {RECORDS} field {field!r} has shape {shape}, expected a row of columns")
        width = shape[0] if shape else 1
        attribute = f"{field}_kind"
        if attribute not in records.attrs:
            raise DataError(f"{path}: {RECORDS} lacks the attribute {attribute!r} naming the columns of {field!r}")
        names = _column_names(records.attrs[attribute], field, path)
        if len(names) != width:
            raise DataError(f"{path}: {attribute} names {len(names)} columns for the {width} of {field!r}")
        for position, name in enumerate(names):
            if name in located:
                raise DataError(f"{path}: column {name!r} is stored twice (in {located[name][0]!r} and {field!r})")
            located[name] = (field, position)
        if base.kind not in REAL_KINDS and any(_wanted(name) for name in names):
            raise DataError(f"{path}: {RECORDS} field {field!r} has dtype {base}, expected real numbers")
    return located


def _wanted(name: str) -> bool:
    prefix, _, number = name.partition("_")
    return name == LABEL_COLUMN or (prefix in CONSTITUENT_COLUMNS and number.isdigit())


def _layout(f: h5py.File, path: Path) -> _Layout:
    """Check one open file against the published layout and find the reader's columns by name."""
    records = _pandas_table(f, path)
    located = _field_columns(records, path)
    wanted = [f"{name}_{i}" for i in range(STORED_CONSTITUENTS) for name in MOMENTUM_ORDER] + [LABEL_COLUMN]
    missing = [name for name in wanted if name not in located]
    if missing:
        raise DataError(f"{path}: the frame lacks column {missing[0]!r} ({len(missing)} of the layout's columns "
                        f"missing); the file does not match the top-tagging layout")
    n_jets = int(records.shape[0])
    stated = records.attrs.get("NROWS")
    if stated is not None and int(np.asarray(stated)) != n_jets:
        raise DataError(f"{path}: {RECORDS} states NROWS = {int(np.asarray(stated))} but holds {n_jets} records; "
                        "the file is incomplete or corrupt")
    sources = []
    for field in dict.fromkeys(located[name][0] for name in wanted[:-1]):
        targets = [i for i, name in enumerate(wanted[:-1]) if located[name][0] == field]
        positions = [located[wanted[i]][1] for i in targets]
        sources.append((field, np.array(targets), np.array(positions)))
    return _Layout(n_jets=n_jets, momentum_sources=tuple(sources), label=located[LABEL_COLUMN],
                   chunk_rows=records.chunks[0] if records.chunks else None)


def _check_storage(records: h5py.Dataset, path: Path) -> None:
    """The records must be decodable here and stored in plausible size: a compression filter this h5py
    lacks (PyTables' blosc, say) or a file declaring 10⁹ jets in a few kB is refused before any read."""
    plist = records.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            raise DataError(f"{path}: {RECORDS} is compressed with HDF5 filter {code} "
                            f"({name.decode(errors='replace') or 'unnamed'}), which this h5py cannot decode; "
                            "rewrite it uncompressed or with complib='zlib'")
    declared = int(records.shape[0]) * records.dtype.itemsize
    stored = records.id.get_storage_size()
    if declared and stored * MAX_DECLARED_PER_STORED < declared:
        raise DataError(f"{path}: {RECORDS} declares {records.shape[0]:,} jets ({declared / 1e9:.3g} GB) but "
                        f"stores {stored:,} bytes; the file is incomplete or corrupt")


def _open(path: Path) -> h5py.File:
    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from err


def _first_jets(records: h5py.Dataset) -> bytes:
    """The first jets' column values (not pandas' row index), to recognise the same data under two names."""
    head = records[: min(8, records.shape[0])]
    return b"".join(np.ascontiguousarray(head[field]).tobytes() for field in records.dtype.names
                    if field != "index")


# -- reading --------------------------------------------------------------------------------------------

def _labels(values: np.ndarray, offset: int, path: Path) -> np.ndarray:
    """``is_signal_new`` as class indices (0 QCD, 1 top); any other value names the first such jet."""
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: jet {offset + first} has {LABEL_COLUMN} = {values[first].item()!r}, expected "
                        f"0 (QCD) or 1 (top); {int(bad.sum())} such jet(s) in jets "
                        f"{offset}..{offset + len(values) - 1}")
    return values.astype(np.int8)


def _momenta(block: np.ndarray, layout: _Layout) -> np.ndarray:
    """The (jets, 200, [px, py, pz, E]) float64 momenta of a chunk of records."""
    n = len(block)
    if len(layout.momentum_sources) == 1:  # the published files: all momenta in values_block_0, 3x faster
        field, _, positions = layout.momentum_sources[0]
        picked = np.take(block[field].reshape(n, -1), positions, axis=1)
        return picked.astype(np.float64).reshape(n, STORED_CONSTITUENTS, 4)
    flat = np.empty((n, STORED_CONSTITUENTS * 4), dtype=np.float64)
    for field, targets, positions in layout.momentum_sources:
        flat[:, targets] = block[field].reshape(n, -1)[:, positions]
    return flat.reshape(n, STORED_CONSTITUENTS, 4)


def _read_file(records: h5py.Dataset, layout: _Layout, n_read: int, n_keep: int, path: Path,
               out: dict[str, np.ndarray], at: int) -> None:
    """Read the first ``n_read`` jets of one file into ``out`` at row ``at``."""
    step = chunk_length(CHUNK_JETS, layout.chunk_rows)
    label_field, label_position = layout.label
    for start in range(0, n_read, step):
        stop = min(start + step, n_read)
        rows = slice(at + start, at + stop)
        try:
            block = records[start:stop]
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read jets {start}..{stop - 1} ({err})") from err
        p4, mask = leading_constituents(_momenta(block, layout), n_keep, start, path)
        out["p4"][rows], out["mask"][rows] = p4, mask
        out["label"][rows] = _labels(block[label_field].reshape(len(block), -1)[:, label_position], start, path)
        out["jet_pt"][rows], out["jet_eta"][rows], out["jet_mass"][rows] = jet_kinematics(p4, mask)


def _check_both_classes(label: np.ndarray, source: str, max_jets: int | None) -> None:
    """A binary task needs both classes: jets of one class only are refused, naming the class."""
    present = np.unique(label)
    if len(present) < len(CLASSES):
        only = CLASSES[int(present[0])] if len(present) else "no"
        hint = f" (only the first {max_jets} jets were read; the files may be sorted by class)" if max_jets else ""
        raise DataError(f"{source}: holds only {only} jets{hint}; the task {TASKS[0].name} needs "
                        f"{' and '.join(CLASSES)} jets")


def inspect_toptag(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None,
                   ) -> list[tuple[Path, _Layout, int]]:
    """Check every file of ``source`` without reading its jets: (file, layout, jets to read) per file.

    Headers only: the pandas table and its columns by name, their element types, the record count the
    file states, that its compression can be decoded and it stores what it declares, that the jets fit
    in memory, and that no two files start with the same jets. Momenta and labels are checked as
    :func:`read_toptag_arrays` reads them.
    """
    if isinstance(n_constituents, bool) or not isinstance(n_constituents, (int, np.integer)) or n_constituents < 1:
        raise ConfigError(f"n_constituents must be a positive integer, got {n_constituents!r}")
    if max_jets is not None and (isinstance(max_jets, bool) or not isinstance(max_jets, (int, np.integer))
                                 or max_jets < 1):
        raise ConfigError(f"max_jets must be a positive integer or None, got {max_jets!r}")
    files = resolve_files(source)
    plan, total, first_jets = [], 0, {}
    for path in files:
        if max_jets is not None and total >= max_jets:
            break
        with _open(path) as f:
            layout = _layout(f, path)
            records = f[RECORDS]
            _check_storage(records, path)
            try:
                head = _first_jets(records)
            except (OSError, ValueError) as err:
                raise DataError(f"{path}: cannot read its first jets ({err})") from err
        if head and head in first_jets:
            raise DataError(f"{path}: holds the same jets as {first_jets[head]} (their first jets are identical); "
                            "read each data set once")
        first_jets[head] = path
        n_read = layout.n_jets if max_jets is None else min(layout.n_jets, max_jets - total)
        plan.append((path, layout, n_read))
        total += n_read
    check_memory(total, n_constituents, describe_source(source, files))
    return plan


def read_toptag_arrays(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None) -> dict:
    """The jets of ``source`` as the arrays of a :class:`JetSet` plus its ``source`` name.

    Each jet keeps its ``n_constituents`` leading constituents by pT as (E, px, py, pz) float32 with
    ``mask = pT > 0``; the label is ``is_signal_new`` (0 QCD, 1 top); the jet pT, η and mass are those of
    the kept constituents' sum (the files store no jet kinematics; ``truth*`` is the top quark, not the
    jet). ``max_jets`` stops after that many jets. Every file is checked (:func:`inspect_toptag`) before
    any jet is read; any malformed input is one ``DataError`` naming the file and the problem.
    """
    plan = inspect_toptag(source, n_constituents, max_jets)
    out = allocate(sum(n_read for _, _, n_read in plan), n_constituents)
    at, starts = 0, []
    for path, layout, n_read in plan:
        with _open(path) as f:
            _read_file(f[RECORDS], layout, n_read, n_constituents, path, out, at)
        starts.append(at)
        at += n_read
    files = [path for path, _, _ in plan]
    name = describe_source(source, files)
    check_unique_jets(out, files, starts)
    _check_both_classes(out["label"], name, max_jets)
    return {**out, "source": name}


# -- writing --------------------------------------------------------------------------------------------

def write_toptag_file(path: str | Path, momenta: np.ndarray, is_signal: np.ndarray, *,
                      truth_p4: np.ndarray | None = None, ttv: int = SPLIT_CODES["train"],
                      complevel: int = 0) -> Path:
    """Write jets as one file of the published layout, atomically (temporary name, then rename).

    ``momenta`` (N, C <= 200, 4) in (E, px, py, pz) GeV, leading constituent first, zero rows for
    padding (it is padded to 200); ``is_signal`` (N,) 1 for top, 0 for QCD. ``truth_p4`` (N, 4) is the
    top quark's (E, px, py, pz) (zeros, as for the published QCD jets, when not given); ``ttv`` the split
    code of every jet (:data:`SPLIT_CODES`). ``complevel`` > 0 compresses with zlib, which h5py decodes.
    pandas writes the frame (``to_hdf(key="table", format="table")``), so the published loaders read it
    as they read the real files; it needs PyTables (``tables``).
    """
    import pandas as pd  # only the writer needs pandas and PyTables

    path = Path(path)
    momenta = np.asarray(momenta)
    is_signal = np.asarray(is_signal)
    if momenta.ndim != 3 or momenta.shape[2] != 4 or momenta.shape[1] > STORED_CONSTITUENTS:
        raise DataError(f"cannot write {path}: momenta have shape {momenta.shape}, expected (jets, <= "
                        f"{STORED_CONSTITUENTS}, 4)")
    n = len(momenta)
    if is_signal.shape != (n,) or not np.isin(is_signal, (0, 1)).all():
        raise DataError(f"cannot write {path}: is_signal must be {n} values of 0 (QCD) or 1 (top)")
    truth = np.zeros((n, 4)) if truth_p4 is None else np.asarray(truth_p4, dtype=np.float64)
    if truth.shape != (n, 4):
        raise DataError(f"cannot write {path}: truth_p4 has shape {truth.shape}, expected ({n}, 4)")
    if ttv not in SPLIT_CODES.values():
        raise ConfigError(f"ttv must be one of {SPLIT_CODES}, got {ttv!r}")
    floats = np.zeros((n, STORED_CONSTITUENTS * 4 + 4), dtype=np.float32)
    floats[:, : momenta.shape[1] * 4] = momenta.reshape(n, -1)
    floats[:, STORED_CONSTITUENTS * 4:] = truth
    frame = pd.DataFrame(floats, columns=list(COLUMNS[:-2]))
    frame[SPLIT_COLUMN] = np.full(n, ttv, dtype=np.int64)
    frame[LABEL_COLUMN] = is_signal.astype(np.int64)
    tmp = path.with_name(path.name + ".tmp")
    options = {"complevel": complevel, "complib": "zlib"} if complevel else {}
    frame.to_hdf(tmp, key=KEY, mode="w", format="table", **options)
    tmp.replace(path)
    return path


# -- declaration ----------------------------------------------------------------------------------------

class ToptagDataset(DatasetSpec):
    name = "toptag"
    classes = CLASSES
    tasks = TASKS
    generator_classes = ("q", "t")  # light-quark jets as QCD, top jets as signal (raysym generate --layout toptag)
    stored_constituents = STORED_CONSTITUENTS
    weighted = False
    layout = ("Kasieczka et al., Top Quark Tagging Reference Dataset, Zenodo record 2603256 (2019); "
              "Kasieczka, Plehn et al., The Machine Learning Landscape of Top Taggers, SciPost Phys. 7 (2019) 014")
    description = "top-tagging reference jets (Kasieczka, Plehn et al. 2019): top-quark jets against QCD jets"

    def inspect(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        return inspect_toptag(source, n_constituents, max_jets)

    def read(self, source, n_constituents=N_CONSTITUENTS, max_jets=None) -> JetSet:
        return self.jets(**read_toptag_arrays(source, n_constituents, max_jets))

    def files(self, source):
        return resolve_files(source)

    def count(self, source):
        return sum(n_read for _, _, n_read in inspect_toptag(source))


TOPTAG = register_dataset(ToptagDataset())
