"""The ATLAS Top Tagging Open Data Set as a declaration, its reader, and a writer of its layout.

The data set of the SEAL paper's own experiments (Hebbar et al., arXiv:2511.01982): large-radius jets from
13 TeV simulated collisions with the full ATLAS detector simulation, top jets from Z' → tt̄ against QCD
light-quark and gluon jets, in equal parts. Two classes, one task: top vs QCD, the one models train on.

The layout, one HDF5 data set per quantity and one row per jet, is published with the data: ATLAS
Collaboration, ATL-PHYS-PUB-2022-039 (cds.cern.ch/record/2825328), CERN Open Data record 15013 (a training
file of 42 M jets and a test file of 2.5 M, the SEAL authors' input), and its re-release with systematic
variations, CERN-EP-2024-159 (arXiv:2407.20127), record 80030 (``train_nominal/``, ``test_nominal/``
and one directory per variation, ~100 k jets per file). The names were read from the data set's README,
the producer's code (github.com/kgreif24/ConstituentTopTagging, ``Root2HDF5/``) and the SEAL authors'
``preprocess_atlas.py`` (github.com/inbarsavoray/SEAL, ``paper/top_tagging/``):

- ``fjet_clus_pt``, ``fjet_clus_eta``, ``fjet_clus_phi``, ``fjet_clus_E``: (N, 200) float32, the jet's
  constituents sorted by decreasing pT, pT and E in MeV. Padding is all zero; the producer also zeroed
  constituents below 100 MeV. A constituent with pT = 0 is padding (the README's rule).
- ``fjet_pt``, ``fjet_eta``, ``fjet_phi``, ``fjet_m``: (N,) the calibrated jet (not the sum of its
  constituents), pT and mass in MeV.
- ``labels``: (N,) 1 for top, 0 for QCD.
- the training weight, ``weights`` (2022) or ``training_weights`` (2024), (N,) float32: background jets
  reweighted to the signal's pT spectrum, signal jets 1. The data set's one rule is that every jet's
  contribution to a loss is weighted by it. The producer computes it only for training files
  (``set_builder.py``: ``weight_func ... and not d['test']``) and ATLAS's own 2022 example ``train.py``
  scores the test set unweighted, while the 2022 README lists a weight for every jet; the 2024
  systematic-variation files carry none. The reader accepts files with and without one.
- 15 high-level substructure quantities (``fjet_Tau1_wta`` ...) and file attributes: not read.

The reader turns each jet's constituents into (px, py, pz, E) in GeV (px = pT cos φ, py = pT sin φ,
pz = pT sinh η, E as stored) and hands them to the shared checks
(:func:`~raysym.data.constituent_checks.leading_constituents`), keeping the leading ``n_constituents``.
The jet pT, η and mass are the stored ``fjet_*`` values in GeV when the file has them, else the sum of the
kept constituents. The weights go into ``JetSet.weight``; **a file without a weight data set gives every
jet weight 1** (how ATLAS scores its test set), so every set read from this data set is weighted and the
training, evaluation and splits treat all of it alike. One read takes files that all carry weights or
all lack them: a mix (a training and a test file) is refused, since it would put reweighted and
unweighted jets into one set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from raysym.data.constituent_checks import (
    MAX_DECLARED_PER_STORED,
    REAL_KINDS,
    allocate,
    check_finite,
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
from raysym.numpy_kinematics import pt_eta_phi

#: Constituent data sets in (pT, η, φ, E) order; pT and E in MeV.
CONSTITUENTS: tuple[str, ...] = ("fjet_clus_pt", "fjet_clus_eta", "fjet_clus_phi", "fjet_clus_E")
#: Jet data sets (pT, η, φ, mass); pT and mass in MeV. The reader takes pT, η and mass.
JET: tuple[str, ...] = ("fjet_pt", "fjet_eta", "fjet_phi", "fjet_m")
JET_KINEMATICS: tuple[str, ...] = ("fjet_pt", "fjet_eta", "fjet_m")
#: The 15 high-level quantities of the published files (the writer stores them as NaN: not computed).
HIGH_LEVEL: tuple[str, ...] = (
    "fjet_C2", "fjet_D2", "fjet_ECF1", "fjet_ECF2", "fjet_ECF3", "fjet_L2", "fjet_L3", "fjet_Qw",
    "fjet_Split12", "fjet_Split23", "fjet_Tau1_wta", "fjet_Tau2_wta", "fjet_Tau3_wta", "fjet_Tau4_wta",
    "fjet_ThrustMaj",
)
LABELS = "labels"
#: The training weight's name in the 2024 release, then in the 2022 one; the first a file has is read.
WEIGHT_NAMES: tuple[str, ...] = ("training_weights", "weights")
#: Constituents per jet in the public files (the reader takes any width).
STORED_CONSTITUENTS = 200
MEV_PER_GEV = 1000.0
#: Jets read at a time: 4096 × 200 × 4 float64 is ~26 MB, whatever the file's size.
CHUNK_JETS = 4096
FILE_PATTERN = "*.h5"
CLASSES: tuple[str, ...] = ("qcd", "top")  # label 0, label 1
TASKS: tuple[TaskSpec, ...] = (TaskSpec("top_vs_qcd", ("top",), ("qcd",), "in", "top vs QCD"),)


# -- files --------------------------------------------------------------------------------------------

def atlas_files(source: Source) -> list[Path]:
    """The files ``source`` names, resolved: a directory gives its ``*.h5`` in sorted order (the 2024
    release's ``train_nominal_000.h5`` ...), one file or a list of files is taken as given. Nothing to
    read, a missing file, or a file listed twice is a ``DataError``."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        folder = Path(source)
        zipped = sorted(folder.glob(FILE_PATTERN + ".gz"))
        hint = (f"; it holds {len(zipped)} gzip-compressed file(s) ({zipped[0].name} ...): gunzip them first"
                if zipped else "")
        return folder_files(folder, FILE_PATTERN, hint)
    return given_files(source, "ATLAS top tagging files")


def _open(path: Path) -> h5py.File:
    if not h5py.is_hdf5(path):
        with open(path, "rb") as handle:
            zipped = handle.read(2) == b"\x1f\x8b"
        raise DataError(f"{path}: not an HDF5 file" + ("; it is gzip-compressed: gunzip it first" if zipped else ""))
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open as HDF5 ({err})") from err


# -- layout -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """What one file holds: its jet and constituent counts, which weight data set (None: none) and
    whether it stores the jets' kinematics."""

    n_jets: int
    n_stored: int
    weight_name: str | None
    jet_kinematics: bool
    chunk_rows: int | None


def _dataset(f: h5py.File, name: str, path: Path) -> h5py.Dataset:
    """Data set ``name``, holding real numbers."""
    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise DataError(f"{path}: missing dataset {name!r}; the file does not match the ATLAS top tagging layout")
    dataset = f[name]
    if dataset.dtype.kind not in REAL_KINDS:
        raise DataError(f"{path}: {name} has dtype {dataset.dtype}, expected real numbers (float or integer)")
    return dataset


def _per_jet(f: h5py.File, name: str, n_jets: int, path: Path) -> None:
    """Data set ``name`` holds one number per jet."""
    dataset = _dataset(f, name, path)
    if dataset.ndim != 1:
        raise DataError(f"{path}: {name} has shape {dataset.shape}, expected one value per jet ({n_jets},)")
    if dataset.shape[0] != n_jets:
        raise DataError(f"{path}: {name} has {dataset.shape[0]} entries but {CONSTITUENTS[0]} has {n_jets} jets")


def _check_declared(dataset: h5py.Dataset, path: Path) -> None:
    """A data set must store a plausible share of what its shape declares: one that declares 10⁹ jets
    but holds a few kB (a broken writer, a truncated copy) is refused before anything is allocated."""
    declared = int(np.prod(dataset.shape, dtype=np.int64)) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    if declared and stored * MAX_DECLARED_PER_STORED < declared:
        raise DataError(f"{path}: {dataset.name.lstrip('/')} declares {dataset.shape[0]:,} jets "
                        f"({declared / 1e9:.3g} GB) but stores {stored:,} bytes; the file is incomplete or corrupt")


def _layout(f: h5py.File, path: Path) -> _Layout:
    """Check one open file against the published layout, by name, without reading its jets."""
    constituents = [_dataset(f, name, path) for name in CONSTITUENTS]
    shape = constituents[0].shape
    if len(shape) != 2:
        raise DataError(f"{path}: {CONSTITUENTS[0]} has shape {shape}, expected (jets, constituents)")
    for name, dataset in zip(CONSTITUENTS[1:], constituents[1:]):
        if dataset.shape != shape:
            raise DataError(f"{path}: {name} has shape {dataset.shape} but {CONSTITUENTS[0]} has {shape}")
    n_jets = int(shape[0])
    if n_jets == 0 or shape[1] == 0:
        raise DataError(f"{path}: {CONSTITUENTS[0]} has shape {shape}: the file holds no jets")
    _per_jet(f, LABELS, n_jets, path)
    weight_name = next((name for name in WEIGHT_NAMES if name in f), None)
    if weight_name is not None:
        _per_jet(f, weight_name, n_jets, path)
    present = [name for name in JET_KINEMATICS if name in f]
    if present and len(present) != len(JET_KINEMATICS):
        missing = [name for name in JET_KINEMATICS if name not in f]
        raise DataError(f"{path}: has {', '.join(present)} but lacks {', '.join(missing)}; the jet kinematics "
                        "come all from the file or all from the constituents")
    for name in present:
        _per_jet(f, name, n_jets, path)
    for name in CONSTITUENTS + (LABELS,) + ((weight_name,) if weight_name else ()) + tuple(present):
        _check_declared(f[name], path)
    return _Layout(n_jets=n_jets, n_stored=int(shape[1]), weight_name=weight_name, jet_kinematics=bool(present),
                   chunk_rows=constituents[0].chunks[0] if constituents[0].chunks else None)


def inspect_atlas_top(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None,
                      ) -> list[tuple[Path, _Layout, int]]:
    """Check every file of ``source`` without reading its jets: (file, layout, jets to read) per file.

    Opens each file's headers only, so it is cheap enough to run before any work starts: the layout by
    name, element types, one row per jet in every data set, that each file stores what it declares, that
    the files all carry training weights or all lack them, that no two files start with the same jets,
    and that the jets fit into this machine's memory. The momenta are checked as they are read.
    """
    if not isinstance(n_constituents, (int, np.integer)) or isinstance(n_constituents, bool) or n_constituents < 1:
        raise ConfigError(f"n_constituents must be a positive integer, got {n_constituents!r}")
    if max_jets is not None and (not isinstance(max_jets, (int, np.integer)) or isinstance(max_jets, bool)
                                 or max_jets < 1):
        raise ConfigError(f"max_jets must be a positive integer or None, got {max_jets!r}")
    files = atlas_files(source)
    plan, total, first_jets = [], 0, {}
    for path in files:
        if max_jets is not None and total >= max_jets:
            break
        with _open(path) as f:
            layout = _layout(f, path)
            head = f[CONSTITUENTS[0]][: min(8, layout.n_jets)].tobytes()
        if head in first_jets:
            raise DataError(f"{path}: holds the same jets as {first_jets[head]} (their first jets are "
                            "identical); read each data set once")
        first_jets[head] = path
        n_read = layout.n_jets if max_jets is None else min(layout.n_jets, max_jets - total)
        plan.append((path, layout, n_read))
        total += n_read
    weighted = [path.name for path, layout, _ in plan if layout.weight_name]
    unweighted = [path.name for path, layout, _ in plan if not layout.weight_name]
    if weighted and unweighted:
        raise DataError(f"{describe_source(source, files)}: {weighted[0]} carries training weights but "
                        f"{unweighted[0]} has none (its jets would count 1 each beside reweighted ones); "
                        "read training and test files separately")
    check_memory(total, n_constituents, describe_source(source, files))
    return plan


# -- reading ------------------------------------------------------------------------------------------

def constituent_momenta(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, energy: np.ndarray, offset: int,
                        path: Path | str) -> np.ndarray:
    """(jets, constituents, [px, py, pz, E]) float64 GeV from the file's (pT, η, φ, E) in MeV.

    Refuses NaN or infinite stored values and negative pT (naming the jet); a constituent with pT = 0 is
    padding and comes out all zero, whatever else its row holds. Trailing slots that are zero in every jet
    of the block are left out (pure padding: most of a jet's 200 slots), so the result may be narrower.
    """
    stored = np.stack([pt, eta, phi, energy], axis=-1)
    check_finite(stored, offset, path)
    negative = stored[..., 0] < 0
    if negative.any():
        jet, constituent = (int(i) for i in np.argwhere(negative)[0])
        raise DataError(f"{path}: jet {offset + jet} has a constituent {constituent} with pT = "
                        f"{stored[jet, constituent, 0]:.6g} MeV; {CONSTITUENTS[0]} must be >= 0 (0 marks padding)")
    used = np.flatnonzero((stored != 0).any(axis=(0, 2)))
    stored = stored[:, : used[-1] + 1 if used.size else 1]
    real = stored[..., 0] > 0
    values = stored[real].astype(np.float64)  # only real constituents pay for the trigonometry
    pt_gev = values[:, 0] / MEV_PER_GEV
    momenta = np.zeros(stored.shape, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # a huge η gives an infinite pz: refused downstream
        momenta[real] = np.stack([pt_gev * np.cos(values[:, 2]), pt_gev * np.sin(values[:, 2]),
                                  pt_gev * np.sinh(values[:, 1]), values[:, 3] / MEV_PER_GEV], axis=-1)
    return momenta


def _labels(raw: np.ndarray, offset: int, path: Path) -> np.ndarray:
    """Class indices from the stored 0/1 labels (0 QCD, 1 top); anything else names the first such jet."""
    bad = ~np.isin(raw, (0, 1))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: jet {offset + first} has label {float(raw[first]):g}; {LABELS} must be 0 (QCD) or "
                        f"1 (top); {int(bad.sum())} such jet(s) in jets {offset}..{offset + len(raw) - 1}")
    return raw.astype(np.int8)


def _weights(raw: np.ndarray, name: str, offset: int, path: Path) -> np.ndarray:
    """The training weights as float32, each finite and >= 0."""
    weight = raw.astype(np.float64)
    bad = ~(np.isfinite(weight) & (weight >= 0) & (weight <= np.finfo(np.float32).max))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: jet {offset + first} has {name} = {weight[first]:.6g}; a training weight must "
                        f"be finite and >= 0; {int(bad.sum())} such jet(s) in jets {offset}..{offset + len(raw) - 1}")
    return weight.astype(np.float32)


def _jet_kinematics(f: h5py.File, start: int, stop: int, path: Path) -> np.ndarray:
    """(jets, [pT, η, mass]) in GeV from the stored fjet_* values, each finite in float32."""
    values = np.stack([f[name][start:stop].astype(np.float64) for name in JET_KINEMATICS], axis=-1)
    values[:, [0, 2]] /= MEV_PER_GEV
    bad = ~(np.abs(values) <= np.finfo(np.float32).max)
    if bad.any():
        jet, column = (int(i) for i in np.argwhere(bad)[0])
        name = JET_KINEMATICS[column]
        raise DataError(f"{path}: jet {start + jet} has {name} = {f[name][start + jet]:.6g}, not a finite float32 "
                        f"number; {int(bad.any(axis=1).sum())} such jet(s) in jets {start}..{stop - 1}")
    return values


def _read_file(f: h5py.File, layout: _Layout, n_read: int, n_keep: int, path: Path,
               out: dict[str, np.ndarray], at: int) -> None:
    """Read the first ``n_read`` jets of one open file into ``out`` from row ``at``."""
    step = chunk_length(CHUNK_JETS, layout.chunk_rows)
    for start in range(0, n_read, step):
        stop = min(start + step, n_read)
        rows = slice(at + start, at + stop)
        try:
            pt, eta, phi, energy = (f[name][start:stop] for name in CONSTITUENTS)
            labels = f[LABELS][start:stop]
            weights = f[layout.weight_name][start:stop] if layout.weight_name else None
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read jets {start}..{stop - 1} ({err})") from err
        p4, mask = leading_constituents(constituent_momenta(pt, eta, phi, energy, start, path), n_keep, start, path)
        out["p4"][rows], out["mask"][rows] = p4, mask
        out["label"][rows] = _labels(labels, start, path)
        if weights is not None:
            out["weight"][rows] = _weights(weights, layout.weight_name, start, path)
        if layout.jet_kinematics:
            kinematics = _jet_kinematics(f, start, stop, path)
        else:
            kinematics = np.stack(jet_kinematics(p4, mask), axis=-1)
        for i, name in enumerate(("jet_pt", "jet_eta", "jet_mass")):
            out[name][rows] = kinematics[:, i]


def _check_both_classes(label: np.ndarray, source: str) -> None:
    """The one task needs top and QCD jets: a set of one class cannot train or score it."""
    counts = np.bincount(label, minlength=len(CLASSES))
    if (counts == 0).any():
        held = CLASSES[int(np.argmax(counts))]
        lacking = CLASSES[int(np.argmin(counts))]
        raise DataError(f"{source}: all {len(label):,} jets read are {held!r} and none {lacking!r}; the task "
                        f"{TASKS[0].name} needs both classes (read more jets or other files)")


def read_atlas_top_arrays(source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None,
                          ) -> tuple[dict[str, np.ndarray], str]:
    """The checked arrays of a ``JetSet`` (with ``weight``) read from ``source``, and its name."""
    plan = inspect_atlas_top(source, n_constituents, max_jets)
    files = [path for path, _, _ in plan]
    name = describe_source(source, files)
    total = sum(n_read for _, _, n_read in plan)
    out = allocate(total, n_constituents)
    out["weight"] = np.ones(total, dtype=np.float32)  # a file without weights: every jet counts once
    at, starts = 0, []
    for path, layout, n_read in plan:
        with _open(path) as f:
            _read_file(f, layout, n_read, n_constituents, path, out, at)
        starts.append(at)
        at += n_read
    check_unique_jets(out, files, starts)
    _check_both_classes(out["label"], name)
    return out, name


# -- writing ------------------------------------------------------------------------------------------

def write_atlas_top_file(
    path: str | Path,
    momenta: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None,
    jet_p4: np.ndarray | None = None,
    n_constituents: int = STORED_CONSTITUENTS,
    weight_name: str = "weights",
    compression: str | None = "gzip",
) -> Path:
    """Write jets as one file of the published layout, atomically (temporary name, then rename).

    ``momenta`` (N, M, 4) are (E, px, py, pz) in GeV with all-zero rows for padding; they are stored as the
    file's own columns, pT, η, φ and E in MeV, float32, sorted by decreasing pT and zero-padded (or cut) to
    ``n_constituents``. ``labels`` (N,) are 0 (QCD) or 1 (top), stored as int32; ``weights`` (N,) go into
    ``weight_name`` (``weights`` as in the 2022 release, ``training_weights`` as in 2024), or, with None,
    the file has no weight data set, as the test files. ``jet_p4`` (N, 4) (E, px, py, pz) GeV is the jet
    stored as ``fjet_pt/eta/phi/m`` (default: the sum of its constituents). The high-level quantities are
    NaN (not computed). Timestamps are off, so the same jets give byte-identical files.
    """
    if weight_name not in WEIGHT_NAMES:
        raise ConfigError(f"weight_name must be one of {', '.join(WEIGHT_NAMES)}, got {weight_name!r}")
    path = Path(path)
    momenta = np.asarray(momenta, dtype=np.float64)
    n = len(momenta)
    energy, px, py, pz = (momenta[..., i] for i in range(4))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_constituents]
    keep = order.shape[1]
    columns = {}
    for name, values, scale in zip(CONSTITUENTS, (pt, eta, phi, energy), (MEV_PER_GEV, 1.0, 1.0, MEV_PER_GEV)):
        stored = np.zeros((n, n_constituents), dtype=np.float32)
        stored[:, :keep] = np.take_along_axis(values * scale, order, axis=1)
        columns[name] = stored
    padding = columns[CONSTITUENTS[0]] == 0
    for name in CONSTITUENTS[1:]:
        columns[name][padding] = 0.0
    if jet_p4 is None:
        jet_p4 = momenta.sum(axis=1)
    jet_p4 = np.asarray(jet_p4, dtype=np.float64)
    jet_pt, jet_eta, jet_phi = pt_eta_phi(jet_p4[:, 1], jet_p4[:, 2], jet_p4[:, 3])
    jet_mass = np.sqrt(np.clip(jet_p4[:, 0] ** 2 - (jet_p4[:, 1:] ** 2).sum(axis=1), 0, None))
    jets = dict(zip(JET, (jet_pt * MEV_PER_GEV, jet_eta, jet_phi, jet_mass * MEV_PER_GEV)))
    tmp = path.with_name(path.name + ".tmp")
    opts = {"track_times": False, "compression": compression}
    with h5py.File(tmp, "w") as f:
        for name, values in columns.items():
            f.create_dataset(name, data=values, chunks=(min(n, 1024), n_constituents) if n else None, **opts)
        for name, values in jets.items():
            f.create_dataset(name, data=np.asarray(values, dtype=np.float32), **opts)
        for name in HIGH_LEVEL:
            f.create_dataset(name, data=np.full(n, np.nan, dtype=np.float32), **opts)
        f.create_dataset(LABELS, data=np.asarray(labels).astype(np.int32), **opts)
        if weights is not None:
            f.create_dataset(weight_name, data=np.asarray(weights, dtype=np.float32), **opts)
        f.attrs["constit"] = list(CONSTITUENTS)
        f.attrs["jet"] = list(JET)
        f.attrs["hl"] = list(HIGH_LEVEL)
        f.attrs["num_cons"] = len(CONSTITUENTS)
        f.attrs["num_jet_features"] = len(JET)
        f.attrs["num_hl"] = len(HIGH_LEVEL)
        f.attrs["num_jets"] = n
    tmp.replace(path)
    return path


# -- the declaration ----------------------------------------------------------------------------------

class AtlasTopDataset(DatasetSpec):
    """The ATLAS Top Tagging Open Data Set: QCD (label 0) and top (label 1) jets, weighted by their
    training weights (1 for files without weights, see the module docstring)."""

    name = "atlas-top"
    classes = CLASSES
    tasks = TASKS
    stored_constituents = STORED_CONSTITUENTS
    weighted = True
    layout = ("ATLAS Collaboration, Constituent-Based Top-Quark Tagging with the ATLAS Detector, "
              "ATL-PHYS-PUB-2022-039 (2022), ATLAS Top Tagging Open Data Set, CERN Open Data record 15013; "
              "re-released with systematic variations as record 80030, CERN-EP-2024-159 (arXiv:2407.20127)")
    description = ("ATLAS Top Tagging Open Data Set: Z' → tt̄ top jets against QCD jets, full ATLAS detector "
                   "simulation, with per-jet training weights")

    def inspect(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        return inspect_atlas_top(source, n_constituents, max_jets)

    def read(self, source, n_constituents=N_CONSTITUENTS, max_jets=None) -> JetSet:
        """The jets of ``source`` (a directory of ``*.h5``, one file, or a list of files), every jet checked;
        ``weight`` holds the files' training weights, or 1 per jet for files without them."""
        arrays, name = read_atlas_top_arrays(source, n_constituents, max_jets)
        return self.jets(**arrays, source=name)

    def files(self, source: Source) -> list[Path]:
        return atlas_files(source)

    def count(self, source: Source) -> int:
        return sum(n_read for _, _, n_read in inspect_atlas_top(source))


ATLAS_TOP = register_dataset(AtlasTopDataset())
