"""Read hls4ml LHC jet files (docs/methods.md §1.2) into a ``JetSet`` (docs/methods.md §1.1).

The files hold 150 constituents × 16 columns per jet in float64; the study needs the 32 leading
constituents' (E, px, py, pz) in float32. The reader checks each file's layout by the names stored in
it (positions are looked up, not assumed) and their element types, reads only the momentum columns, in
chunks of jets so a whole archive never sits in memory at float64, and turns every way a file can be
unusable into one ``DataError`` that names the file and the problem (and the first bad jet): NaN,
infinite, unphysical or impossibly energetic momenta, jets along the beam, bad labels, the same jets twice.
Whatever passes is finite in float32 and gives the taggers finite inputs (docs/methods.md §2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from raysym.data.constituent_checks import (MAX_DECLARED_PER_STORED, REAL_KINDS, allocate, check_memory,
                                            check_unique_jets, chunk_length, describe_source, folder_files,
                                            given_files, leading_constituents)
from raysym.data.hls4ml_layout import LABEL_COLUMNS, MOMENTUM_COLUMNS
from raysym.data.jetset import N_CONSTITUENTS, JetSet
from raysym.errors import ConfigError, DataError

#: File name pattern of the hls4ml archives (``jetImage_*_150p_*.h5``) and of generated files.
FILE_PATTERN = "jetImage_*.h5"
CONSTITUENTS = "jetConstituentList"
JETS = "jets"
PARTICLE_NAMES = "particleFeatureNames"
JET_NAMES = "jetFeatureNames"
#: Jet-level columns the reader takes, by name.
JET_KINEMATICS = ("j_pt", "j_eta", "j_mass")
#: Jets read at a time: 2048 × 150 × 4 float64 is ~10 MB, whatever the file's size.
CHUNK_JETS = 2048
#: The hls4ml version read by default: 150 constituents per jet (the study keeps the leading 32).
STORED_PARTICLES = 150
_PARTICLES_TAG = re.compile(r"_(\d+)p(?=[_.])")

Source = str | Path | Sequence[str | Path]


def particle_count(path: Path) -> int | None:
    """The constituent count a file's name declares (``jetImage_..._150p_...`` → 150), or None."""
    match = _PARTICLES_TAG.search(path.name)
    return int(match.group(1)) if match else None


def resolve_files(source: Source, particles: int = STORED_PARTICLES) -> list[Path]:
    """The files ``source`` names, resolved to absolute paths.

    A directory gives its ``jetImage_*.h5`` in sorted order — of the hls4ml versions only the
    ``particles``-constituent files (``_150p_`` by default; the same jets also come as ``_30p_`` and
    ``_50p_`` files, and reading both would count every jet twice), plus files without such a tag
    (generated ones). One file, or a list of files, is taken as given. Nothing to read, or a file listed
    twice, is a ``DataError``.
    """
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        found = folder_files(Path(source), FILE_PATTERN)
        files = [p for p in found if particle_count(p) in (None, particles)]
        if not files:
            counts = sorted({particle_count(p) for p in found})
            raise DataError(f"{Path(source)}: no {particles}-particle files (the files here are "
                            f"{', '.join(f'{c}p' for c in counts)}); pass particles=N to read another version")
        return files
    return given_files(source, "hls4ml files")


# -- layout -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """Where one file keeps what the reader needs (column indices found by name)."""

    n_jets: int
    n_stored: int
    momentum_cols: tuple[int, ...]  # px, py, pz, e
    kinematics_cols: tuple[int, ...]  # j_pt, j_eta, j_mass
    label_cols: tuple[int, ...]  # j_g .. j_t
    chunk_rows: int | None  # the dataset's HDF5 chunk length along jets, if chunked


def _names(f: h5py.File, dataset: str, path: Path) -> list[str]:
    raw = f[dataset][()]
    if np.ndim(raw) != 1:
        raise DataError(f"{path}: {dataset} has shape {np.shape(raw)}, expected a list of names")
    return [v.decode("utf-8").strip() if isinstance(v, bytes) else str(v).strip() for v in raw]


def _columns(names: list[str], wanted: Iterable[str], n_columns: int, dataset: str,
             path: Path) -> tuple[int, ...]:
    """Indices of ``wanted`` among ``names``, each one naming a real data column."""
    found = []
    for name in wanted:
        if names.count(name) != 1:
            problem = "lacks" if name not in names else "repeats"
            raise DataError(f"{path}: {dataset} {problem} {name!r}; the file does not match the "
                            f"hls4ml layout")
        index = names.index(name)
        if index >= n_columns:
            raise DataError(f"{path}: {dataset} puts {name!r} at column {index}, but the data has "
                            f"only {n_columns} columns")
        found.append(index)
    return tuple(found)


def _check_dtypes(f: h5py.File, path: Path) -> None:
    """The data sets must hold real numbers and the name lists strings: anything else (a string-typed
    ``jetConstituentList``, complex momenta) would reach numpy's arithmetic as a ``TypeError`` naming
    neither the file nor the data set."""
    for name in (CONSTITUENTS, JETS):
        dtype = f[name].dtype
        if dtype.kind not in REAL_KINDS:
            raise DataError(f"{path}: {name} has dtype {dtype}, expected real numbers (float or integer)")
    for name in (PARTICLE_NAMES, JET_NAMES):
        dtype = f[name].dtype
        if h5py.check_string_dtype(dtype) is None:
            raise DataError(f"{path}: {name} has dtype {dtype}, expected strings (the column names)")


def _layout(f: h5py.File, path: Path) -> _Layout:
    """Check one open file against the hls4ml layout and find the columns by name."""
    for name in (CONSTITUENTS, JETS, PARTICLE_NAMES, JET_NAMES):
        if name not in f or not isinstance(f[name], h5py.Dataset):
            raise DataError(f"{path}: missing dataset {name!r}")
    _check_dtypes(f, path)
    constituents, jets = f[CONSTITUENTS], f[JETS]
    if constituents.ndim != 3:
        raise DataError(f"{path}: {CONSTITUENTS} has shape {constituents.shape}, expected "
                        f"(jets, constituents, columns)")
    if jets.ndim != 2:
        raise DataError(f"{path}: {JETS} has shape {jets.shape}, expected (jets, columns)")
    if jets.shape[0] != constituents.shape[0]:
        raise DataError(f"{path}: {JETS} has {jets.shape[0]} rows but {CONSTITUENTS} has "
                        f"{constituents.shape[0]} jets")
    particle_names = _names(f, PARTICLE_NAMES, path)
    n_cols = constituents.shape[2]
    # The public files carry one name more than columns (j1_pdgid has no data, docs/methods.md §1.2).
    if len(particle_names) not in (n_cols, n_cols + 1):
        raise DataError(f"{path}: {PARTICLE_NAMES} has {len(particle_names)} names for the "
                        f"{n_cols} columns of {CONSTITUENTS}")
    jet_names = _names(f, JET_NAMES, path)
    if len(jet_names) != jets.shape[1]:
        raise DataError(f"{path}: {JET_NAMES} has {len(jet_names)} names for the {jets.shape[1]} "
                        f"columns of {JETS}")
    return _Layout(
        n_jets=int(jets.shape[0]),
        n_stored=int(constituents.shape[1]),
        momentum_cols=_columns(particle_names, MOMENTUM_COLUMNS, n_cols, PARTICLE_NAMES, path),
        kinematics_cols=_columns(jet_names, JET_KINEMATICS, jets.shape[1], JET_NAMES, path),
        label_cols=_columns(jet_names, LABEL_COLUMNS, jets.shape[1], JET_NAMES, path),
        chunk_rows=constituents.chunks[0] if constituents.chunks else None,
    )


def _open(path: Path) -> h5py.File:
    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from err


# -- reading ------------------------------------------------------------------------------------------

def _read_columns(dataset: h5py.Dataset, start: int, stop: int, cols: Sequence[int]) -> np.ndarray:
    """``dataset[start:stop, ..., cols]`` as one hyperslab over the column span, then a local pick.

    A contiguous slab is a single HDF5 selection (fast); picking columns afterwards in numpy costs
    little since the span of the momentum columns (0..3 in the public files) is narrow.
    """
    lo, hi = min(cols), max(cols) + 1
    block = dataset[start:stop, ..., lo:hi]
    picked = [c - lo for c in cols]
    if picked == list(range(hi - lo)):
        return block
    return block[..., picked]












def _check_jet_kinematics(kinematics: np.ndarray, offset: int, path: Path) -> None:
    """The jet pT, η and mass are kept in float32: each must be finite there (a float64 10⁴⁰ is not)."""
    bad = ~(np.abs(kinematics) <= np.finfo(np.float32).max)
    if bad.any():
        jet, column = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: jet {offset + jet} has {JET_KINEMATICS[column]} = "
                        f"{kinematics[jet, column]:.6g}, not a finite float32 number; "
                        f"{int(bad.any(axis=1).sum())} such jet(s) in jets {offset}..{offset + len(kinematics) - 1}")




def _labels(onehot: np.ndarray, offset: int, path: Path) -> np.ndarray:
    """Class indices from the one-hot columns; anything but exactly one 1 among 0s is an error."""
    not_binary = ~np.isin(onehot, (0.0, 1.0)).all(axis=1)
    n_set = (onehot == 1.0).sum(axis=1)
    for problem, bad in (("label columns other than 0/1", not_binary),
                         ("no class label", ~not_binary & (n_set == 0)),
                         ("several class labels", ~not_binary & (n_set > 1))):
        if bad.any():
            first = offset + int(np.flatnonzero(bad)[0])
            raise DataError(f"{path}: jet {first} has {problem} ({', '.join(LABEL_COLUMNS)}); "
                            f"{int(bad.sum())} such jet(s) in this chunk")
    return onehot.argmax(axis=1).astype(np.int8)


def _read_file(f: h5py.File, layout: _Layout, n_read: int, n_keep: int, path: Path,
               out: dict[str, np.ndarray], at: int) -> None:
    """Read the first ``n_read`` jets of one file into ``out`` at row ``at``."""
    constituents, jets = f[CONSTITUENTS], f[JETS]
    step = chunk_length(CHUNK_JETS, layout.chunk_rows)
    for start in range(0, n_read, step):
        stop = min(start + step, n_read)
        rows = slice(at + start, at + stop)
        try:
            momenta = _read_columns(constituents, start, stop, layout.momentum_cols)
            jet_block = jets[start:stop]
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read jets {start}..{stop - 1} ({err})") from err
        p4, mask = leading_constituents(momenta, n_keep, start, path)
        out["p4"][rows], out["mask"][rows] = p4, mask
        out["label"][rows] = _labels(jet_block[:, list(layout.label_cols)], start, path)
        kinematics = jet_block[:, list(layout.kinematics_cols)]
        _check_jet_kinematics(kinematics, start, path)
        for i, name in enumerate(("jet_pt", "jet_eta", "jet_mass")):
            out[name][rows] = kinematics[:, i]


def read_hls4ml(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None,
                particles: int = STORED_PARTICLES) -> JetSet:
    """Read hls4ml-layout files into one ``JetSet`` (docs/methods.md §1.1–1.2).

    ``source`` is a directory (its ``jetImage_*.h5`` of the ``particles``-constituent version, sorted
    by name, see :func:`resolve_files`), one file, or a list of files, read in that order. Each jet keeps
    its ``n_constituents`` leading constituents by pT as (E, px, py, pz) float32 with ``mask = pT > 0``;
    the label comes from the one-hot j_g..j_t columns and the jet pT, η and mass from ``jets``.
    ``max_jets`` stops after that many jets. Every file is checked (:func:`inspect_hls4ml`) before any
    data is read; any malformed input — a bad layout, NaN or unphysical momenta, the same jets twice —
    raises one ``DataError`` naming the file and the problem.
    """
    plan = inspect_hls4ml(source, n_constituents, max_jets, particles)
    out = allocate(sum(n_read for _, _, n_read in plan), n_constituents)
    at, starts = 0, []
    for path, layout, n_read in plan:
        with _open(path) as f:
            _read_file(f, layout, n_read, n_constituents, path, out, at)
        starts.append(at)
        at += n_read
    check_unique_jets(out, [path for path, _, _ in plan], starts)
    return JetSet(**out, source=describe_source(source, [path for path, _, _ in plan]))


def inspect_hls4ml(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None,
                   particles: int = STORED_PARTICLES) -> list[tuple[Path, "_Layout", int]]:
    """Check every file of ``source`` without reading its jets: (file, layout, jets to read) per file.

    Opens each file's headers only, so it is cheap enough to run before any work starts: the layout by
    name, each data set's element type, the jet counts, that each file stores the data it declares and
    that the whole set fits in this machine's memory, and that no two files start with the same jets (the
    same data twice). The momenta themselves are checked as :func:`read_hls4ml` reads them.
    """
    if not isinstance(n_constituents, (int, np.integer)) or n_constituents < 1:
        raise ConfigError(f"n_constituents must be a positive integer, got {n_constituents!r}")
    if max_jets is not None and (not isinstance(max_jets, (int, np.integer)) or max_jets < 1):
        raise ConfigError(f"max_jets must be a positive integer or None, got {max_jets!r}")
    files = resolve_files(source, particles)
    plan, total, first_jets = [], 0, {}
    for path in files:
        if max_jets is not None and total >= max_jets:
            break
        with _open(path) as f:
            layout = _layout(f, path)
            _check_declared(f, path)
            head = f[JETS][: min(8, layout.n_jets)].tobytes()
        if head and head in first_jets:
            raise DataError(f"{path}: holds the same jets as {first_jets[head]} (their first jets are "
                            "identical); read each data set once")
        first_jets[head] = path
        n_read = layout.n_jets if max_jets is None else min(layout.n_jets, max_jets - total)
        plan.append((path, layout, n_read))
        total += n_read
    check_memory(total, n_constituents, describe_source(source, files))
    return plan


def _check_declared(f: h5py.File, path: Path) -> None:
    """A dataset must store a plausible share of what its shape declares: a file that declares 10⁹ jets
    but holds a few kB (a broken writer, a truncated copy) is refused before anything is allocated."""
    for name in (CONSTITUENTS, JETS):
        dataset = f[name]
        declared = int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize
        stored = dataset.id.get_storage_size()
        if declared and stored * MAX_DECLARED_PER_STORED < declared:
            raise DataError(f"{path}: {name} declares {dataset.shape[0]:,} jets ({declared / 1e9:.3g} GB) but "
                            f"stores {stored:,} bytes; the file is incomplete or corrupt")
