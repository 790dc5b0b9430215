"""The in-memory jet set (docs/methods.md §1.1): N jets × 32 constituents, their labels, tasks and splits.

Everything is a plain numpy array in a frozen dataclass, so a ``JetSet`` pickles as a handful of
buffers and travels through Ray's object store without a copy; ``to_torch`` makes tensors only where a
model needs them. Tasks (``g_vs_w``, ``g_vs_z``, ``g_vs_t``) and the paper's class-stratified
train/val/test split live here too, because they are operations on the set, not on files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.errors import ConfigError, DataError

if TYPE_CHECKING:  # torch is imported only when tensors are asked for
    import torch

#: Constituents kept per jet (docs/methods.md §1.1).
N_CONSTITUENTS = 32

#: Binary tasks of the study (docs/methods.md §1.1): (background, signal) class names; gluon is always label 0.
TASKS: dict[str, tuple[str, str]] = {
    "g_vs_w": ("g", "w"),
    "g_vs_z": ("g", "z"),
    "g_vs_t": ("g", "t"),
}

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
    true for a real constituent; ``label`` (N,) int8 index into ``CLASS_NAMES``; ``jet_pt``,
    ``jet_eta``, ``jet_mass`` (N,) float32 as stored with the jet. ``source`` says where the jets came
    from, so an error about them can name it.

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

    def __post_init__(self) -> None:
        self._coerce("p4", np.float32, np.floating)
        self._coerce("mask", np.bool_, np.bool_)
        self._coerce("label", np.int8, np.integer)
        for name in ("jet_pt", "jet_eta", "jet_mass"):
            self._coerce(name, np.float32, np.floating)
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
        bad = (self.label < 0) | (self.label >= len(CLASS_NAMES))
        if bad.any():
            raise self._fail(f"{int(bad.sum())} label(s) outside 0..{len(CLASS_NAMES) - 1}, "
                             f"first at jet {int(np.flatnonzero(bad)[0])}")

    # -- views ------------------------------------------------------------------------------------

    @classmethod
    def _per_jet_names(cls) -> list[str]:
        """Names of the fields that hold one entry per jet (all array fields, subclasses included)."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in ("source", "task")]

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
        or the same generated jets, give the same fingerprint; one changed momentum gives another.
        """
        digest = hashlib.blake2b(digest_size=8)
        for name in self._per_jet_names():
            value = np.ascontiguousarray(getattr(self, name))
            digest.update(f"{name}{value.dtype}{value.shape}".encode())
            digest.update(value.tobytes())
        return digest.hexdigest()

    def class_counts(self) -> dict[str, int]:
        """Jets per class name, every class listed (zero where absent)."""
        counts = np.bincount(self.label, minlength=len(CLASS_NAMES))
        return {name: int(c) for name, c in zip(CLASS_NAMES, counts)}

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
    """The jets of one binary task (docs/methods.md §1.1) with the target ``y`` (float32: 0 gluon, 1 signal)."""

    task: str
    y: np.ndarray

    def __post_init__(self) -> None:
        check_task(self.task)
        self._coerce("y", np.float32, np.floating)
        super().__post_init__()  # checks y's shape with the other per-jet arrays

    @property
    def classes(self) -> tuple[str, str]:
        """(background, signal) class names of the task."""
        return TASKS[self.task]


def check_task(task: str) -> str:
    """``task`` if it is one of :data:`TASKS`, else a ``ConfigError`` listing them: the one check of a task name."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    return task


def task_selection(labels: np.ndarray, task: str, source: str = "") -> tuple[np.ndarray, np.ndarray]:
    """(indices of ``task``'s jets, their float32 targets): gluon 0, the task's signal class 1.

    The one selection of a task's jets: :func:`task_view` builds a view from it, and evaluation uses the
    indices directly to score a test set once for every task. A task class with no jets is a
    ``DataError`` naming class, task and ``source``, since training or scoring on one class silently
    gives useless numbers.
    """
    background, signal = (CLASS_NAMES.index(c) for c in TASKS[check_task(task)])
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    for index in (background, signal):
        if counts[index] == 0:
            raise DataError(f"task {task!r} needs class {CLASS_NAMES[index]!r}, but the jets from "
                            f"{source or '<unnamed source>'} have none")
    keep = np.flatnonzero((labels == background) | (labels == signal))
    return keep, (labels[keep] == signal).astype(np.float32)


def task_view(jets: JetSet, task: str) -> TaskJets:
    """The jets of ``task``'s two classes with binary targets (see :func:`task_selection`)."""
    keep, y = task_selection(jets.label, task, jets.source)
    fields = {name: getattr(jets, name)[keep] for name in JetSet._per_jet_names()}
    return TaskJets(**fields, source=jets.source, task=task, y=y)


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


def check_splittable(labels: np.ndarray, tasks: Sequence[str], source: str = "",
                     fractions: Sequence[float] = PAPER_FRACTIONS) -> None:
    """Fail before splitting if some class a task uses has too few jets for train, val and test each to
    hold one: one ``DataError`` naming ``source``, every short class and its count, and the minimum.

    Without it a split of a one-gluon set puts the gluon into train, and the test task then reports that
    the jets "have none" of class g.
    """
    needed = min_jets_per_class(fractions)
    counts = np.bincount(np.asarray(labels), minlength=len(CLASS_NAMES))
    classes = sorted({CLASS_NAMES.index(c) for task in tasks for c in TASKS[check_task(task)]})
    short = [c for c in classes if counts[c] < needed]
    if not short:
        return
    held = " and ".join(f"{counts[c]} jet(s) of class {CLASS_NAMES[c]!r}" if counts[c] else
                        f"none of class {CLASS_NAMES[c]!r}" for c in short)
    users = [t for t in tasks if set(TASKS[t]) & {CLASS_NAMES[c] for c in short}]
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

