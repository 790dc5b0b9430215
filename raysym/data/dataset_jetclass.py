"""The JetClass data set (Qu, Li, Qian, ICML 2022) as a declaration, its reader and a writer of its layout.

**Layout.** JetClass (Zenodo 6619768) is a set of ROOT files, one process per file (``HToBB_120.root``,
``TTBar_004.root``, ``ZJetsToNuNu_017.root``, ... in ``train_100M/``, ``val_5M/``, ``test_20M/``), each
with a TTree ``tree`` of one entry per jet: jagged ``std::vector<float>`` particle branches ``part_px``,
``part_py``, ``part_pz``, ``part_energy`` (GeV; also ``part_deta``, ``part_dphi``, impact parameters and
particle-ID flags), float jet branches ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_energy``,
``jet_nparticles``, ``jet_sdmass``, ``jet_tau1..4``, and ten one-hot labels ``label_QCD`` ... ``label_Tbl``
of mixed element types (``label_QCD`` float, ``label_Hbb``..``label_Hqql`` bool, ``label_Zqq``..``label_Tbl``
int32). Names and types as the authors list them: jet-universe/particle_transformer,
``data/JetClass/JetClass_full.yaml`` (label order) and ``notebooks/JetClass101.ipynb`` (``tree.show()``).

**Stored constituents.** The files are jagged: a jet stores all of its particles, however many. The 128
declared here is the padding the published training uses (``length: 128`` in the data configs above):
what "stored" means for a layout with no fixed width. The reader takes every stored particle of a jet,
checks them all, sorts them by pT and keeps the leading ``n_constituents`` (the study's 32).

**Tasks** mirror Glowacki's design (docs/methods.md §1.1): models train on one signal against the
background, the near out-of-distribution test has a signal of the same kind of decay, the far one a
signal of another prong structure. With JetClass's QCD background:

- in: ``tbqq_vs_qcd``, t → bW → bqq′ against QCD, the standard top-tagging task: a three-prong jet at
  m_t ≈ 173 GeV whose two light prongs form a W.
- near: ``h4q_vs_qcd``, H → WW* → 4q: also a fully hadronic multi-prong decay through a W (three or four
  prongs, one prong pair at the W mass), at a neighbouring mass (125 GeV), as Z is to W in Glowacki.
  t → bℓν (``Tbl``) shares the top's origin but not its prongs: the W leaves a lepton and an unseen
  neutrino, so the jet shows two visible prongs (b and ℓ) and a mass smeared below m_t; it is not
  declared, to keep one near task.
- far: ``wqq_vs_qcd``, W → qq′: two prongs at 80 GeV, the prong structure unlike the top's, as the
  three-prong top is far from the two-prong W in Glowacki.

**Reading.** Every file's tree, branch presence, element types and entry counts are checked before any
jet is read (:meth:`JetClassDataset.inspect`); then each file is read in chunks of jets, its jagged
momenta zero-padded into (jets, particles, [px, py, pz, E]) float64 blocks of bounded size and handed
to :func:`~raysym.data.constituent_checks.leading_constituents` (NaN, infinite, unphysical or impossibly
energetic momenta, empty jets, jets along the beam: one ``DataError`` naming the file and jet). The
label is the one label branch set to 1; the jet's pT and η are its ``jet_pt`` and ``jet_eta``, its mass
the ungroomed m = √(E² − (pT cosh η)²) from ``jet_energy`` (what hls4ml's ``j_mass`` is; ``jet_sdmass``
is groomed). Each file holds one class, so one file reads as one class: a task needs files of both of
its sides (``task_view`` says which class is missing), and ``max_jets`` on a folder reads the first
files in name order, so pass a list to mix classes.

**Writing.** :func:`write_jetclass_file` writes the same tree with uproot, for tests and benchmarks.
uproot writes jagged branches as ``float[npart]`` with one shared counter ``npart`` rather than ROOT's
``std::vector<float>``; both read as the same jagged floats.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raysym.data.constituent_checks import (
    allocate,
    check_memory,
    check_unique_jets,
    leading_constituents,
)
from raysym.data.dataset_spec import DatasetSpec, Source, register_dataset
from raysym.data.constituent_checks import describe_source, folder_files, given_files
from raysym.data.jetset import N_CONSTITUENTS, JetSet
from raysym.data.tasks import TaskSpec
from raysym.errors import ConfigError, DataError
from raysym.numpy_kinematics import pt_eta_phi, wrap_phi

#: The TTree every JetClass file holds.
TREE = "tree"
#: The ten classes in the order of the label branches (the published data config's ``labels``).
JETCLASS_CLASSES: tuple[str, ...] = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
LABEL_BRANCHES: tuple[str, ...] = tuple(f"label_{name}" for name in JETCLASS_CLASSES)
#: Element type of each label branch in the published files (JetClass101.ipynb's ``tree.show()``).
LABEL_DTYPES: tuple[type, ...] = (np.float32,) + (np.bool_,) * 5 + (np.int32,) * 4
#: The jagged particle branches the reader takes, in the order of the blocks it builds (px, py, pz, E).
MOMENTUM_BRANCHES: tuple[str, ...] = ("part_px", "part_py", "part_pz", "part_energy")
#: The jet branches the reader takes: pT and η as stored, E for the ungroomed mass.
JET_BRANCHES: tuple[str, ...] = ("jet_pt", "jet_eta", "jet_energy")
#: Particles per jet the published training pads or truncates to (``length: 128``).
PADDED_PARTICLES = 128
#: Jets read from a file at a time: JetClass jets hold tens of particles, so some 10⁶ particles, ~16 MB
#: as float32 in four branches.
CHUNK_JETS = 16_384
#: Particle slots (jets × the longest jet) in one zero-padded float64 block: 2²⁰ slots are 32 MB.
PAD_SLOTS = 1 << 20
#: The most particles one jet may hold. JetClass's jets hold tens (the published training keeps 128); a
#: jet of 10⁴ would be a broken file, and the cap bounds one jet's padded row at 320 kB.
MAX_PARTICLES = 10_000
#: Jets per file whose pT, η and E identify the file (the same jets under two names are refused).
HEAD_JETS = 8
#: Element kinds: numbers for momenta and jet kinematics; numbers or booleans for labels.
NUMBER_KINDS = "fiu"
LABEL_KINDS = "fiub"

JETCLASS_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("tbqq_vs_qcd", ("Tbqq",), ("QCD",), "in", "QCD vs top (bqq')"),
    TaskSpec("h4q_vs_qcd", ("H4q",), ("QCD",), "near", "QCD vs H→4q"),
    TaskSpec("wqq_vs_qcd", ("Wqq",), ("QCD",), "far", "QCD vs W→qq'"),
)


def _uproot():
    """uproot, imported when a ROOT file is touched, so the declaration registers without it."""
    try:
        import uproot
    except ImportError as err:  # pragma: no cover - a dependency of raysym
        raise ImportError("reading or writing JetClass files needs uproot (pip install uproot)") from err
    return uproot


def _reason(err: Exception) -> str:
    """uproot's message for ``err`` on one line (it spreads messages over several)."""
    return " ".join(str(err).split()) or type(err).__name__


# -- files ------------------------------------------------------------------------------------------

def resolve_files(source: Source) -> list[Path]:
    """The files ``source`` names, absolute: a folder's ``*.root`` in name order, one file or a list as
    given. Nothing to read, a missing path, or a file named twice is a ``DataError``."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return folder_files(Path(source), "*.root")
    return given_files(source, "JetClass files")


@contextlib.contextmanager
def _open_tree(path: Path) -> Iterator[object]:
    """The file's TTree ``tree``, the file closed afterwards; anything else is one ``DataError``."""
    uproot = _uproot()
    with open(path, "rb") as handle:
        if handle.read(4) != b"root":
            raise DataError(f"{path}: not a ROOT file")
    try:
        file = uproot.open(path)
    except Exception as err:  # uproot raises many kinds for a damaged header
        raise DataError(f"{path}: cannot open as ROOT ({_reason(err)})") from err
    with file:
        try:
            classes = file.classnames()
        except Exception as err:
            raise DataError(f"{path}: cannot list its contents ({_reason(err)})") from err
        kinds = {key.split(";")[0]: kind for key, kind in classes.items()}
        if TREE not in kinds:
            raise DataError(f"{path}: no TTree {TREE!r} (the file holds: {', '.join(sorted(kinds)) or 'nothing'})")
        if kinds[TREE] != "TTree":
            raise DataError(f"{path}: {TREE!r} is a {kinds[TREE]}, not the TTree of the JetClass layout")
        try:
            tree = file[TREE]
        except Exception as err:
            raise DataError(f"{path}: cannot read TTree {TREE!r} ({_reason(err)})") from err
        yield tree


# -- layout -----------------------------------------------------------------------------------------

def _branch(tree, name: str, path: Path):
    try:
        return tree[name]
    except KeyError:  # uproot's KeyInFileError
        raise DataError(f"{path}: TTree {TREE!r} lacks the branch {name!r}; the file does not match the "
                        f"JetClass layout") from None


def _dtype_of(interpretation) -> np.dtype | None:
    """The element type of a per-jet number, or None if the branch holds something else."""
    return interpretation.from_dtype if isinstance(interpretation, _uproot().AsDtype) else None


def _check_types(tree, path: Path) -> None:
    """Particle branches must be jagged numbers, jet branches one number per jet, labels one number or
    boolean per jet: anything else (strings, nested vectors, fixed arrays) cannot be read as momenta."""
    uproot = _uproot()
    for name in MOMENTUM_BRANCHES:
        branch = _branch(tree, name, path)
        interpretation = branch.interpretation
        content = interpretation.content if isinstance(interpretation, uproot.AsJagged) else None
        dtype = _dtype_of(content)
        if dtype is None or dtype.kind not in NUMBER_KINDS:
            raise DataError(f"{path}: {name} is {branch.typename}, expected a jagged array of numbers "
                            "(one per particle)")
    for names, kinds, what in ((JET_BRANCHES, NUMBER_KINDS, "one number per jet"),
                               (LABEL_BRANCHES, LABEL_KINDS, "one number or boolean per jet")):
        for name in names:
            branch = _branch(tree, name, path)
            dtype = _dtype_of(branch.interpretation)
            if dtype is None or dtype.kind not in kinds:
                raise DataError(f"{path}: {name} is {branch.typename}, expected {what}")


def _check_entries(tree, path: Path) -> int:
    """The jets the tree declares, after checking every branch read stores exactly that many: a branch
    with fewer (a truncated or hand-assembled file) would misalign labels and momenta."""
    n_jets = int(tree.num_entries)
    if n_jets == 0:
        raise DataError(f"{path}: TTree {TREE!r} holds no jets")
    for name in MOMENTUM_BRANCHES + JET_BRANCHES + LABEL_BRANCHES:
        branch = tree[name]
        stored = int(branch.entry_offsets[-1]) if len(branch.entry_offsets) else 0
        if int(branch.num_entries) != n_jets or stored != n_jets:
            raise DataError(f"{path}: branch {name!r} stores {min(stored, int(branch.num_entries)):,} entries "
                            f"but TTree {TREE!r} has {n_jets:,} jets; the file is incomplete or corrupt")
    return n_jets


def _head(tree, path: Path, n_jets: int) -> bytes:
    """The first jets' pT, η and E as bytes: a few values that identify a file's jets."""
    try:
        arrays = tree.arrays(list(JET_BRANCHES), entry_stop=min(HEAD_JETS, n_jets), library="np")
    except Exception as err:
        raise DataError(f"{path}: cannot read its first jets ({_reason(err)})") from err
    return b"".join(np.asarray(arrays[name], dtype=np.float64).tobytes() for name in JET_BRANCHES)


@dataclass(frozen=True)
class FilePlan:
    """One file to read: its path, the jets it holds and how many of them to read."""

    path: Path
    n_jets: int
    n_read: int


def inspect_jetclass(source: Source, n_constituents: int = N_CONSTITUENTS,
                     max_jets: int | None = None) -> list[FilePlan]:
    """Check every file of ``source`` without reading a particle: one :class:`FilePlan` per file read.

    Opens each file's tree: the branches the reader takes exist with the right element types, each
    stores the tree's jet count, no two files start with the same jets, and the jets fit into memory.
    The momenta themselves are checked as :func:`read_jetclass` reads them.
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
        with _open_tree(path) as tree:
            _check_types(tree, path)
            n_jets = _check_entries(tree, path)
            head = _head(tree, path, n_jets)
        if head in first_jets:
            raise DataError(f"{path}: holds the same jets as {first_jets[head]} (their first jets are "
                            "identical); read each file once")
        first_jets[head] = path
        n_read = n_jets if max_jets is None else min(n_jets, max_jets - total)
        plan.append(FilePlan(path, n_jets, n_read))
        total += n_read
    check_memory(total, n_constituents, describe_source(source, files))
    return plan


# -- reading ----------------------------------------------------------------------------------------

def _particle_counts(arrays: dict, offset: int, path: Path) -> np.ndarray:
    """Particles per jet, the same in every momentum branch, none above :data:`MAX_PARTICLES`."""
    import awkward as ak

    counts = np.asarray(ak.num(arrays[MOMENTUM_BRANCHES[0]], axis=1), dtype=np.int64)
    for name in MOMENTUM_BRANCHES[1:]:
        other = np.asarray(ak.num(arrays[name], axis=1), dtype=np.int64)
        bad = np.flatnonzero(other != counts)
        if bad.size:
            jet = int(bad[0])
            raise DataError(f"{path}: jet {offset + jet} has {counts[jet]} {MOMENTUM_BRANCHES[0]} values but "
                            f"{other[jet]} {name} values (every particle branch holds one per particle); "
                            f"{bad.size} such jet(s) in jets {offset}..{offset + len(counts) - 1}")
    big = np.flatnonzero(counts > MAX_PARTICLES)
    if big.size:
        jet = int(big[0])
        raise DataError(f"{path}: jet {offset + jet} holds {counts[jet]:,} particles, more than "
                        f"{MAX_PARTICLES:,} (JetClass jets hold tens); the file is corrupt")
    return counts


def _flat_momenta(arrays: dict) -> list[np.ndarray]:
    """The chunk's px, py, pz, E of every particle, jets one after another, as stored (no copy)."""
    import awkward as ak

    return [ak.to_numpy(ak.flatten(arrays[name], axis=1)) for name in MOMENTUM_BRANCHES]


def padded_blocks(flat: Sequence[np.ndarray], counts: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first jet, zero-padded (jets, longest, [px, py, pz, E]) float64 block) covering every jet of a
    chunk from its flat px, py, pz, E; each block at most :data:`PAD_SLOTS` particle slots (or one
    jet), so memory stays bounded whatever the counts."""
    starts = np.concatenate([[0], np.cumsum(counts)])
    width = int(counts.max(initial=0))
    step = max(1, PAD_SLOTS // max(width, 1))
    for first in range(0, len(counts), step):
        last = min(first + step, len(counts))
        block = np.zeros((last - first, width, 4))
        real = np.arange(width) < counts[first:last, None]  # row-major: the flat order of the particles
        for component, values in enumerate(flat):
            block[..., component][real] = values[starts[first]:starts[last]]
        yield first, block


def _labels(arrays: dict, offset: int, path: Path) -> np.ndarray:
    """Class indices from the one-hot label branches: exactly one 1 among 0s per jet."""
    onehot = np.stack([np.asarray(arrays[name], dtype=np.float64) for name in LABEL_BRANCHES], axis=1)
    not_binary = ~np.isin(onehot, (0.0, 1.0)).all(axis=1)
    n_set = (onehot == 1.0).sum(axis=1)
    for problem, bad in (("label values other than 0/1", not_binary),
                         ("no label set", ~not_binary & (n_set == 0)),
                         ("several labels set", ~not_binary & (n_set > 1))):
        if bad.any():
            jet = int(np.flatnonzero(bad)[0])
            found = ", ".join(f"{n}={onehot[jet, i]:g}" for i, n in enumerate(LABEL_BRANCHES) if onehot[jet, i])
            raise DataError(f"{path}: jet {offset + jet} has {problem} ({found or 'all 0'}); "
                            f"{int(bad.sum())} such jet(s) in jets {offset}..{offset + len(onehot) - 1}")
    return onehot.argmax(axis=1).astype(np.int8)


def _jet_kinematics(arrays: dict, offset: int, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, η, ungroomed mass) float32 from ``jet_pt``, ``jet_eta``, ``jet_energy``, each finite."""
    values = np.stack([np.asarray(arrays[name], dtype=np.float64) for name in JET_BRANCHES], axis=1)
    bad = ~(np.abs(values) <= np.finfo(np.float32).max)
    if bad.any():
        jet, column = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: jet {offset + jet} has {JET_BRANCHES[column]} = {values[jet, column]:.6g}, "
                        f"not a finite float32 number; {int(bad.any(axis=1).sum())} such jet(s) in jets "
                        f"{offset}..{offset + len(values) - 1}")
    pt, eta, energy = values.T
    momentum = pt * np.cosh(np.clip(eta, -700, 700))
    mass = np.sqrt(np.maximum(energy**2 - momentum**2, 0.0))
    return pt.astype(np.float32), eta.astype(np.float32), mass.astype(np.float32)


def _read_file(tree, plan: FilePlan, n_keep: int, out: dict[str, np.ndarray], at: int) -> None:
    """Read the first ``plan.n_read`` jets of one file into ``out`` from row ``at``."""
    names = list(MOMENTUM_BRANCHES + JET_BRANCHES + LABEL_BRANCHES)
    for start in range(0, plan.n_read, CHUNK_JETS):
        stop = min(start + CHUNK_JETS, plan.n_read)
        try:
            arrays = tree.arrays(names, entry_start=start, entry_stop=stop, library="ak", how=dict)
        except Exception as err:  # a damaged basket: uproot's or a decompressor's error
            raise DataError(f"{plan.path}: cannot read jets {start}..{stop - 1} ({_reason(err)})") from err
        counts = _particle_counts(arrays, start, plan.path)
        flat = _flat_momenta(arrays)
        for first, block in padded_blocks(flat, counts):
            p4, mask = leading_constituents(block, n_keep, start + first, plan.path)
            rows = slice(at + start + first, at + start + first + len(block))
            out["p4"][rows], out["mask"][rows] = p4, mask
        rows = slice(at + start, at + stop)
        out["label"][rows] = _labels(arrays, start, plan.path)
        out["jet_pt"][rows], out["jet_eta"][rows], out["jet_mass"][rows] = _jet_kinematics(
            arrays, start, plan.path)


def read_jetclass(source: Source, n_constituents: int = N_CONSTITUENTS,
                  max_jets: int | None = None) -> dict[str, np.ndarray | str]:
    """The jets of JetClass files as the arrays of a ``JetSet`` plus its ``source`` (see the module
    docstring): every file checked first (:func:`inspect_jetclass`), then read in chunks."""
    plan = inspect_jetclass(source, n_constituents, max_jets)
    out = allocate(sum(p.n_read for p in plan), n_constituents)
    at, starts = 0, []
    for item in plan:
        with _open_tree(item.path) as tree:
            _read_file(tree, item, n_constituents, out, at)
        starts.append(at)
        at += item.n_read
    check_unique_jets(out, [p.path for p in plan], starts)
    return {**out, "source": describe_source(source, [p.path for p in plan])}


# -- writing ----------------------------------------------------------------------------------------

def _particle_lists(momenta) -> list[np.ndarray]:
    """Per-jet (particles, [px, py, pz, E]) float64 from a list of such arrays or a zero-padded
    (jets, slots, 4) array (an all-zero slot is padding)."""
    if isinstance(momenta, np.ndarray) and momenta.ndim == 3:
        if momenta.shape[2] != 4:
            raise ConfigError(f"padded momenta must have shape (jets, slots, 4), got {momenta.shape}")
        return [jet[(jet != 0).any(axis=1)].astype(np.float64) for jet in momenta]
    jets = [np.asarray(jet, dtype=np.float64).reshape(-1, 4) if np.size(jet) == 0
            else np.asarray(jet, dtype=np.float64) for jet in momenta]
    for i, jet in enumerate(jets):
        if jet.ndim != 2 or jet.shape[1] != 4:
            raise ConfigError(f"jet {i}: momenta must have shape (particles, 4) as px, py, pz, E; got {jet.shape}")
    return jets


def write_jetclass_file(path: str | Path, momenta, labels, *, jet_sdmass=None,
                        basket_jets: int = 10_000) -> Path:
    """Write jets in the JetClass layout: TTree ``tree`` with the kinematic branches and the ten labels.

    ``momenta`` is a list of per-jet (particles, 4) arrays or one zero-padded (jets, slots, 4) array, as
    px, py, pz, E in GeV; ``labels`` class indices into :data:`JETCLASS_CLASSES`. Written: ``part_px``,
    ``part_py``, ``part_pz``, ``part_energy``, ``part_deta``, ``part_dphi`` (float32, with counter
    ``npart``); ``jet_pt``, ``jet_eta``, ``jet_phi``, ``jet_energy`` of the sum of the particles,
    ``jet_nparticles``, ``jet_sdmass`` (float32); the labels with their published types. ``part_deta``
    is signed by the jet's η (η − η_jet flipped for η_jet < 0, as the authors' dataloader documents it).
    The writer does no soft-drop clustering: unless ``jet_sdmass`` is given it holds the ungroomed mass,
    an upper bound of the groomed one. Not written: impact parameters, particle-ID flags, τ_N, ``aux_*``.
    Baskets of ``basket_jets`` jets, as a file written in pieces has.
    """
    import awkward as ak

    uproot = _uproot()
    jets = _particle_lists(momenta)
    labels = np.asarray(labels)
    if labels.shape != (len(jets),) or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"labels must be {len(jets)} class indices, got shape {labels.shape} of {labels.dtype}")
    if len(jets) and (labels.min() < 0 or labels.max() >= len(JETCLASS_CLASSES)):
        raise ConfigError(f"labels must lie in 0..{len(JETCLASS_CLASSES) - 1}")
    counts = np.array([len(jet) for jet in jets], dtype=np.int64)
    flat = np.concatenate(jets) if jets else np.zeros((0, 4))
    owner = np.repeat(np.arange(len(jets)), counts)
    jet_p4 = np.zeros((len(jets), 4))
    np.add.at(jet_p4, owner, flat)
    jet_pt, jet_eta, jet_phi = pt_eta_phi(jet_p4[:, 0], jet_p4[:, 1], jet_p4[:, 2])
    mass = np.sqrt(np.maximum(jet_p4[:, 3] ** 2 - (jet_p4[:, :3] ** 2).sum(axis=1), 0.0))
    _, eta, phi = pt_eta_phi(flat[:, 0], flat[:, 1], flat[:, 2])
    particles = {
        "px": flat[:, 0], "py": flat[:, 1], "pz": flat[:, 2], "energy": flat[:, 3],
        "deta": np.where(jet_eta[owner] > 0, 1.0, -1.0) * (eta - jet_eta[owner]),
        "dphi": wrap_phi(phi - jet_phi[owner]),
    }
    scalars = {
        "jet_pt": jet_pt, "jet_eta": jet_eta, "jet_phi": jet_phi, "jet_energy": jet_p4[:, 3],
        "jet_nparticles": counts, "jet_sdmass": mass if jet_sdmass is None else np.asarray(jet_sdmass),
    }
    if scalars["jet_sdmass"].shape != (len(jets),):
        raise ConfigError(f"jet_sdmass must hold one mass per jet ({len(jets)}), got shape {scalars['jet_sdmass'].shape}")
    columns = {name: np.asarray(value, dtype=np.float32) for name, value in scalars.items()}
    for i, (name, dtype) in enumerate(zip(LABEL_BRANCHES, LABEL_DTYPES)):
        columns[name] = (labels == i).astype(dtype)
    part = ak.zip({name: ak.unflatten(value.astype(np.float32), counts) for name, value in particles.items()})
    path = Path(path)
    with uproot.recreate(path) as file:
        tree = file.mktree(TREE, {"part": part.type.content, **{n: v.dtype for n, v in columns.items()}})
        for start in range(0, len(jets), basket_jets):
            stop = min(start + basket_jets, len(jets))
            tree.extend({"part": part[start:stop], **{n: v[start:stop] for n, v in columns.items()}})
    return path


# -- the declaration --------------------------------------------------------------------------------

class JetClassDataset(DatasetSpec):
    name = "jetclass"
    classes = JETCLASS_CLASSES
    tasks = JETCLASS_TASKS
    stored_constituents = PADDED_PARTICLES
    weighted = False
    layout = ("Qu, Li, Qian, JetClass: A Large-Scale Dataset for Deep Learning in Jet Physics, Zenodo 6619768 "
              "(2022); Qu, Li, Qian, Particle Transformer for Jet Tagging, ICML 2022, arXiv:2202.03772; "
              "branch names and types from jet-universe/particle_transformer (data/JetClass/JetClass_full.yaml, "
              "notebooks/JetClass101.ipynb)")
    description = ("JetClass (Delphes, ~500–1000 GeV jets): QCD, H→bb/cc/gg/4q/qqℓν, Z→qq, W→qq, "
                   "t→bqq' and t→bℓν jets")

    def inspect(self, source, n_constituents=N_CONSTITUENTS, max_jets=None):
        return inspect_jetclass(source, n_constituents, max_jets)

    def read(self, source, n_constituents=N_CONSTITUENTS, max_jets=None) -> JetSet:
        return self.jets(**read_jetclass(source, n_constituents, max_jets))

    def files(self, source):
        return resolve_files(source)

    def count(self, source):
        return sum(plan.n_read for plan in inspect_jetclass(source))


JETCLASS = register_dataset(JetClassDataset())
