"""The in-memory jet set (docs/methods.md §1.1): N jets × 32 constituents, their labels, tasks and splits.

Everything is a plain numpy array in a frozen dataclass, so a ``JetSet`` pickles as a handful of
buffers and travels through Ray's object store without a copy; ``to_torch`` makes tensors only where a
model needs them. A set carries what its labels mean — its data set's classes and tasks
(:mod:`raysym.data.tasks`; hls4ml's by default) — and optional per-jet weights, so a worker that scores a
task needs nothing else. Task views and the paper's class-stratified train/val/test split live here too,
because they are operations on the set, not on files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from raysym.data.tasks import HLS4ML_CLASSES, HLS4ML_TASKS, DatasetRecord, TaskSpec, check_tasks, find_task
from raysym.errors import ConfigError, DataError

if TYPE_CHECKING:  # torch is imported only when tensors are asked for
    import torch

#: Constituents kept per jet (docs/methods.md §1.1).
N_CONSTITUENTS = 32

#: Fields of a set that describe it rather than hold one entry per jet.
_METADATA = ("source", "classes", "tasks", "dataset", "task")

#: The paper's split of the training task in jets (docs/methods.md §1.1): train, validation, test.
PAPER_SPLIT_COUNTS: tuple[int, int, int] = (200_000, 49_560, 104_704)
#: The same split as fractions of the whole (they sum to one).
PAPER_FRACTIONS: tuple[float, float, float] = tuple(
    n / sum(PAPER_SPLIT_COUNTS) for n in PAPER_SPLIT_COUNTS
)

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")


@dataclass(frozen=True, eq=False, repr=False)
class JetSet:
    """N jets with up to M (normally 32) constituents each, numpy-backed.

    ``p4`` (N, M, 4) float32 in (E, px, py, pz) order, GeV, padded rows all zero; ``mask`` (N, M) bool,
    true for a real constituent; ``label`` (N,) int8 index into ``classes``; ``jet_pt``,
    ``jet_eta``, ``jet_mass`` (N,) float32 as stored with the jet (or summed from its constituents).
    ``source`` says where the jets came from, so an error about them can name it; ``dataset``,
    ``classes`` and ``tasks`` what the labels mean (hls4ml's by default); ``weight`` (N,) float32, finite
    and >= 0, the per-jet weights of a data set that has them (None: every jet counts once).

    Arrays of a convertible dtype are converted (without a copy when they already fit); a wrong shape
    or an impossible dtype is a ``DataError``.
    """

    p4: np.ndarray
    mask: np.ndarray
    label: np.ndarray
    jet_pt: np.ndarray
    jet_eta: np.ndarray
    jet_mass: np.ndarray
    source: str = ""
    classes: tuple[str, ...] = HLS4ML_CLASSES
    tasks: tuple[TaskSpec, ...] = HLS4ML_TASKS
    dataset: str = "hls4ml"
    weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if (self.classes, self.tasks) != (HLS4ML_CLASSES, HLS4ML_TASKS):
            check_tasks(self.classes, self.tasks, f"data set {self.dataset!r}")
        self._coerce("p4", np.float32, np.floating)
        self._coerce("mask", np.bool_, np.bool_)
        self._coerce("label", np.int8 if len(self.classes) <= 127 else np.int16, np.integer)
        for name in ("jet_pt", "jet_eta", "jet_mass"):
            self._coerce(name, np.float32, np.floating)
        if self.weight is not None:
            self._coerce("weight", np.float32, np.floating)
            bad = ~(np.isfinite(self.weight) & (self.weight >= 0))
            if bad.any():
                raise self._fail(f"{int(bad.sum())} weight(s) negative or not finite, first at jet "
                                 f"{int(np.flatnonzero(bad)[0])} ({self.weight[np.flatnonzero(bad)[0]]})")
        self._check_shapes()
        self._check_labels()

    # -- validation -------------------------------------------------------------------------------

    def _fail(self, problem: str) -> DataError:
        return DataError(f"jet set from {self.source or '<unnamed source>'}: {problem}")

    def _coerce(self, name: str, dtype: type, kind: type) -> None:
        value = np.asarray(getattr(self, name))
        if not (np.issubdtype(value.dtype, kind) or (kind is np.floating
                                                     and np.issubdtype(value.dtype, np.integer))):
            raise self._fail(f"{name} has dtype {value.dtype}, expected {np.dtype(dtype).name}")
        if value.dtype != dtype:
            value = value.astype(dtype)
        object.__setattr__(self, name, value)

    def _check_shapes(self) -> None:
        if self.p4.ndim != 3 or self.p4.shape[2] != 4:
            raise self._fail(f"p4 has shape {self.p4.shape}, expected (N, M, 4)")
        n, m = self.p4.shape[:2]
        if self.mask.shape != (n, m):
            raise self._fail(f"mask has shape {self.mask.shape}, expected {(n, m)}")
        for name in self._per_jet_names():
            if name not in ("p4", "mask") and getattr(self, name).shape != (n,):
                raise self._fail(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")

    def _check_labels(self) -> None:
        bad = (self.label < 0) | (self.label >= len(self.classes))
        if bad.any():
            raise self._fail(f"{int(bad.sum())} label(s) outside 0..{len(self.classes) - 1}, "
                             f"first at jet {int(np.flatnonzero(bad)[0])}")

    # -- views ------------------------------------------------------------------------------------

    def _per_jet_names(self) -> list[str]:
        """Names of the fields that hold one entry per jet (all array fields, subclasses included; the
        weights only where the set has them)."""
        return [f.name for f in dataclasses.fields(self)
                if f.name not in _METADATA and getattr(self, f.name) is not None]

    @property
    def weighted(self) -> bool:
        """Whether the jets carry weights of their own."""
        return self.weight is not None

    def task_spec(self, name: str) -> TaskSpec:
        """The task ``name`` of this set's data set (a ``ConfigError`` listing its tasks if unknown)."""
        return find_task(self.tasks, name, f"data set {self.dataset!r}")

    @property
    def record(self) -> DatasetRecord:
        """What the store records about these jets' data set."""
        return DatasetRecord(self.dataset, self.classes, self.tasks, self.weight is not None)

    @property
    def training_task(self) -> TaskSpec:
        """The data set's in-distribution task: the one its models train on."""
        return self.record.by_role("in")[0]

    def __len__(self) -> int:
        return int(self.p4.shape[0])

    @property
    def n_constituents(self) -> int:
        return int(self.p4.shape[1])

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.class_counts().items() if v)
        return (f"{type(self).__name__}(n={len(self)}, n_constituents={self.n_constituents}, "
                f"classes=({counts}), source={self.source!r})")

    def subset(self, indices: np.ndarray | Sequence[int] | slice) -> "JetSet":
        """The jets at ``indices`` (integers, a boolean mask or a slice), same type and metadata."""
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
            if indices.dtype != np.bool_ and not np.issubdtype(indices.dtype, np.integer):
                if indices.size:  # an empty list arrives as float64
                    raise ConfigError(f"subset indices must be integers or booleans, not {indices.dtype}")
                indices = indices.astype(np.intp)
        return dataclasses.replace(self, **{name: getattr(self, name)[indices]
                                            for name in self._per_jet_names()})

    def fingerprint(self) -> str:
        """A hash of every jet's momenta, mask, label and jet kinematics, in order.

        Part of the identity of anything trained or measured on these jets: the same files read again,
        or the same generated jets, give the same fingerprint; one changed momentum gives another. What
        the labels mean is part of it too, except for hls4ml's classes and tasks, the reference: jets of
        that layout keep the fingerprint they had before data sets were declarations.
        """
        digest = hashlib.blake2b(digest_size=8)
        if (self.dataset, self.classes, self.tasks) != ("hls4ml", HLS4ML_CLASSES, HLS4ML_TASKS):
            digest.update(repr((self.dataset, self.classes, self.tasks)).encode())
        for name in self._per_jet_names():
            value = np.ascontiguousarray(getattr(self, name))
            digest.update(f"{name}{value.dtype}{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def class_counts(self) -> dict[str, int]:
        """Jets per class name, every class listed (zero where absent)."""
        counts = np.bincount(self.label, minlength=len(self.classes))
        return {name: int(c) for name, c in zip(self.classes, counts)}

    def for_task(self, task: str) -> "TaskJets":
        """Shorthand for ``task_view(self, task)``."""
        return task_view(self, task)

    def to_torch(self) -> dict[str, "torch.Tensor"]:
        """The per-jet arrays as CPU tensors, keyed by field name.

        Writable arrays are shared with torch (no copy); read-only ones (for example straight out of
        Ray's object store) are copied first, since torch tensors are always writable. ``label``
        becomes int64 so it can index or feed a loss directly.
        """
        import torch

        tensors = {}
        for name in self._per_jet_names():
            value = getattr(self, name)
            if not value.flags.writeable:
                value = value.copy()
            tensors[name] = torch.from_numpy(value)
        tensors["label"] = tensors["label"].long()
        return tensors


@dataclass(frozen=True, eq=False, repr=False, kw_only=True)
class TaskJets(JetSet):
    """The jets of one binary task (docs/methods.md §1.1) with the target ``y`` (float32: 0 background,
    1 signal)."""

    task: str
    y: np.ndarray

    def __post_init__(self) -> None:
        find_task(self.tasks, self.task, f"data set {self.dataset!r}")
        self._coerce("y", np.float32, np.floating)
        super().__post_init__()  # checks y's shape with the other per-jet arrays


def check_task_name(task: str) -> str:
    """``task`` if it can name a task (a data set's own declaration says which exist)."""
    if not isinstance(task, str) or not task:
        raise ConfigError(f"a task is named by a non-empty string, got {task!r}")
    return task


def task_selection(labels: np.ndarray, task: TaskSpec, classes: tuple[str, ...] = HLS4ML_CLASSES,
                   source: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(indices of ``task``'s jets, their float32 targets): its background classes 0, its signal 1.

    The one selection of a task's jets: :func:`task_view` builds a view from it, and evaluation uses the
    indices directly to score a test set once for every task. A task class with no jets is a
    ``DataError`` naming class, task and ``source``, since training or scoring on one class silently
    gives useless numbers.
    """
    counts = np.bincount(labels, minlength=len(classes))
    for name in task.classes:
        if counts[classes.index(name)] == 0:
            raise DataError(f"task {task.name!r} needs class {name!r}, but the jets from "
                            f"{source or '<unnamed source>'} have none")
    signal = np.isin(labels, [classes.index(c) for c in task.signal])
    keep = np.flatnonzero(signal | np.isin(labels, [classes.index(c) for c in task.background]))
    return keep, signal[keep].astype(np.float32)


def task_view(jets: JetSet, task: str) -> TaskJets:
    """The jets of ``task``'s classes with binary targets (see :func:`task_selection`)."""
    keep, y = task_selection(jets.label, jets.task_spec(task), jets.classes, jets.source)
    fields = {name: getattr(jets, name)[keep] for name in jets._per_jet_names()}
    return TaskJets(**fields, source=jets.source, classes=jets.classes, tasks=jets.tasks, dataset=jets.dataset,
                    task=task, y=y)


# -- splits -----------------------------------------------------------------------------------------

def check_fractions(fractions: Sequence[float], n_parts: int = 3) -> tuple[float, ...]:
    """``fractions`` as floats after checking they can split a set: n_parts finite values ≥ 0 that
    sum to one, the first (training) one positive. Anything else is a ``ConfigError``."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"split fractions must be numbers, got {fractions!r}") from err
    if len(values) != n_parts:
        raise ConfigError(f"need {n_parts} split fractions, got {len(values)}: {values}")
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ConfigError(f"split fractions must be finite and non-negative, got {values}")
    if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigError(f"split fractions must sum to 1, got {values} (sum {sum(values)})")
    if values[0] <= 0:
        raise ConfigError(f"the training fraction must be positive, got {values}")
    return values


def _allocate(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Integer part sizes summing to ``n``, closest to ``n * fractions`` (largest remainders)."""
    exact = n * np.asarray(fractions, dtype=np.float64)
    sizes = np.floor(exact).astype(np.int64)
    remainder_order = np.argsort(-(exact - sizes), kind="stable")
    sizes[remainder_order[: n - int(sizes.sum())]] += 1
    return sizes


def stratified_indices(labels: np.ndarray, seed: int, fractions: Sequence[float]) -> list[np.ndarray]:
    """Disjoint, covering, sorted index arrays, one per fraction, each class split in those fractions.

    Every class is shuffled by its own stream drawn from ``seed``, so the result depends on the seed
    and the labels only.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.cumsum(_allocate(members.size, fractions))[:-1]
        for part, chunk in zip(parts, np.split(members, bounds)):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.intp) for p in parts]


def min_jets_per_class(fractions: Sequence[float] = PAPER_FRACTIONS) -> int:
    """The fewest jets of one class from which :func:`stratified_indices` gives every part of positive
    fraction at least one of them — and so does every larger count (4 for the paper's fractions).

    From n >= 1/f for the smallest fraction f, n·f >= 1 puts one jet in every part before remainders are
    handed out, so every such n works; counting down from there finds where it stops working.
    """
    values = np.asarray(check_fractions(fractions, len(fractions)))
    used = values > 0
    enough = math.ceil(1 / values[used].min())
    while enough > 1 and (_allocate(enough - 1, values)[used] > 0).all():
        enough -= 1
    return enough


def check_splittable(jets: JetSet, tasks: Sequence[str], fractions: Sequence[float] = PAPER_FRACTIONS) -> None:
    """Fail before splitting if some class a task uses has too few jets for train, val and test each to
    hold one: one ``DataError`` naming ``source``, every short class and its count, and the minimum.

    Without it a split of a one-gluon set puts the gluon into train, and the test task then reports that
    the jets "have none" of class g.
    """
    needed = min_jets_per_class(fractions)
    names = jets.classes
    specs = [jets.task_spec(task) for task in tasks]
    counts = np.bincount(np.asarray(jets.label), minlength=len(names))
    used = sorted({names.index(c) for spec in specs for c in spec.classes})
    short = [c for c in used if counts[c] < needed]
    if not short:
        return
    held = " and ".join(f"{counts[c]} jet(s) of class {names[c]!r}" if counts[c] else
                        f"none of class {names[c]!r}" for c in short)
    users = [spec.name for spec in specs if set(spec.classes) & {names[c] for c in short}]
    source = jets.source
    raise DataError(f"the jets from {source or '<unnamed source>'} are too few to split into train/val/test "
                    f"for {', '.join(dict.fromkeys(users))}: they hold {held}, and the split needs at least "
                    f"{needed} jets of every class a task uses, so that train, val and test each hold one")


def split(jets: JetSet, seed: int,
          fractions: Sequence[float] = PAPER_FRACTIONS) -> dict[str, JetSet]:
    """Seeded, class-stratified train/val/test split (docs/methods.md §1.1; the paper's fractions by default).

    Works on a ``JetSet`` or a ``TaskJets`` and returns the same type. The same seed and jets give
    the same split; the parts are disjoint and cover every jet.
    """
    fractions = check_fractions(fractions, 3)
    parts = stratified_indices(jets.label, seed, fractions)
    return {name: jets.subset(index) for name, index in zip(SPLIT_NAMES, parts)}


def split_train_val(jets: JetSet, seed: int,
                    fractions: Sequence[float] = PAPER_FRACTIONS) -> dict[str, JetSet]:
    """Train/val split for when the test set comes from elsewhere.

    The paper trains and validates on the hls4ml "train" archive and tests on its "val" archive
    (docs/methods.md §1.2). ``fractions`` are the usual three; the first two are renormalised so train:val keeps
    the paper's ratio. Two fractions summing to one are accepted as well.
    """
    values = tuple(fractions)
    if len(values) == 3:
        check_fractions(values, 3)
        values = values[:2]
    try:
        total = float(sum(values))
    except TypeError as err:
        raise ConfigError(f"split fractions must be numbers, got {fractions!r}") from err
    if not (math.isfinite(total) and total > 0):
        raise ConfigError(f"train and val fractions must have a positive sum, got {values}")
    train_val = check_fractions([v / total for v in values], 2)
    parts = stratified_indices(jets.label, seed, train_val)
    return {name: jets.subset(index) for name, index in zip(SPLIT_NAMES[:2], parts)}

