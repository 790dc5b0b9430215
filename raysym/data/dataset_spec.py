"""A data set is a declaration (docs/methods.md §1): its classes, its tasks with their roles, and its reader.

Everything in raysym that needs jets asks a :class:`DatasetSpec`: the study's jets stage reads the files
through it and checks them before Ray starts (:meth:`DatasetSpec.inspect`), and the jets it returns carry
its classes and tasks (:class:`~raysym.data.tasks.TaskSpec`), so the evaluation, the summaries, the figures,
the report and its verdicts read the tasks from the jets. Adding a data set is one module that subclasses
:class:`DatasetSpec` and calls :func:`register_dataset` (the built-in ones are imported by
:mod:`raysym.data.datasets`); a spec declared in a user's script or a test registers the same way.

A reader turns files into a :class:`~raysym.data.jetset.JetSet` of the leading ``n_constituents`` as
(E, px, py, pz) float32 GeV with a mask, labels indexing ``classes``, the jets' pT, η and mass, and
per-jet weights where the data set has them (``weighted``). Every reader meets one standard
(:mod:`raysym.data.constituent_checks`): a wrong layout, NaN or infinite momenta, empty jets, a single
class, mismatched lengths each give one ``DataError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from raysym.data.jetset import N_CONSTITUENTS, JetSet
from raysym.data.tasks import ROLES, DatasetRecord, TaskSpec, check_tasks, find_task
from raysym.errors import ConfigError, DataError

#: What a reader accepts: a folder, one file, or a list of files.
Source = str | Path | Sequence[str | Path]


class DatasetSpec:
    """One data set. Subclasses set the class attributes and implement :meth:`inspect` and :meth:`read`."""

    #: Its name (``--dataset NAME``), file-safe.
    name: ClassVar[str] = ""
    #: Its classes in label order.
    classes: ClassVar[tuple[str, ...]] = ()
    #: Its binary tasks; exactly one has role ``"in"`` (the one models train on).
    tasks: ClassVar[tuple[TaskSpec, ...]] = ()
    #: Constituents per jet its files store (a study keeps the leading ``N_CONSTITUENTS``).
    stored_constituents: ClassVar[int] = 0
    #: Whether its jets carry weights (training and evaluation then weight every jet by them).
    weighted: ClassVar[bool] = False
    #: Where its layout is published: what docs/methods.md cites.
    layout: ClassVar[str] = ""
    #: One line for the report's first section.
    description: ClassVar[str] = ""
    #: The generator classes (raysym.generate) whose jets it can be made of when a study gives no files, or
    #: None: only read from files (hls4ml's generated jets keep the study's own generator settings).
    generator_classes: ClassVar[tuple[str, ...] | None] = None

    def inspect(self, source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None) -> Any:
        """Check ``source``'s files without reading their jets (headers, shapes, element types, counts), so
        that a bad file is one error before any cluster work: a ``DataError`` naming the file."""
        raise NotImplementedError

    def read(self, source: Source, n_constituents: int = N_CONSTITUENTS, max_jets: int | None = None) -> JetSet:
        """The jets of ``source`` as a :class:`JetSet` made by :meth:`jets` (so it carries this data set's
        classes and tasks), every jet checked."""
        raise NotImplementedError

    def files(self, source: Source) -> list[Path]:
        """The files ``source`` names, in reading order (what the jet cache keys on)."""
        raise NotImplementedError

    def count(self, source: Source) -> int:
        """How many jets :meth:`read` would give, from the headers alone (what a study's memory and disk
        estimate before Ray starts rests on)."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------------

    def jets(self, *, p4: np.ndarray, mask: np.ndarray, label: np.ndarray, jet_pt: np.ndarray,
             jet_eta: np.ndarray, jet_mass: np.ndarray, source: str, weight: np.ndarray | None = None) -> JetSet:
        """A :class:`JetSet` of this data set: its classes, tasks and name attached; weights required
        exactly when the data set is ``weighted``."""
        if self.weighted and weight is None:
            raise DataError(f"{source}: data set {self.name!r} is weighted, but no weights were read")
        if not self.weighted and weight is not None:
            raise ConfigError(f"data set {self.name!r} is not weighted, but its reader gave weights")
        return JetSet(p4=p4, mask=mask, label=label, jet_pt=jet_pt, jet_eta=jet_eta, jet_mass=jet_mass,
                      source=source, classes=self.classes, tasks=self.tasks, dataset=self.name, weight=weight)

    def task(self, name: str) -> TaskSpec:
        """Its task ``name`` (a ``ConfigError`` listing its tasks if unknown)."""
        return find_task(self.tasks, name, f"data set {self.name!r}")

    @property
    def training_task(self) -> TaskSpec:
        """Its in-distribution task."""
        return self.record.by_role("in")[0]

    @property
    def record(self) -> DatasetRecord:
        """What a study's store records about this data set."""
        return DatasetRecord(self.name, self.classes, self.tasks, self.weighted)

    def roles(self) -> dict[str, list[str]]:
        """Its task names by role, every role listed."""
        return {role: [t.name for t in self.record.by_role(role)] for role in ROLES}

    def check_declaration(self) -> None:
        """The declaration is usable: a name, classes and tasks that fit them, a stored-constituent count."""
        if not self.name or not isinstance(self.name, str) or "/" in self.name:
            raise ConfigError(f"a data set needs a file-safe name, got {self.name!r}")
        check_tasks(self.classes, self.tasks, f"data set {self.name!r}")
        if not isinstance(self.stored_constituents, int) or self.stored_constituents < 1:
            raise ConfigError(f"data set {self.name!r}: stored_constituents must be a positive integer")


#: name → spec, in registration order.
_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` (checked) to the data sets a study can name; a second data set of a name is an error."""
    spec.check_declaration()
    if spec.name in _REGISTRY and type(_REGISTRY[spec.name]) is not type(spec):
        raise ConfigError(f"a data set named {spec.name!r} is registered already")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_dataset(name: str) -> None:
    """Take a data set out again (a test's toy data set, after its test)."""
    _REGISTRY.pop(name, None)


def registered_datasets() -> tuple[DatasetSpec, ...]:
    """Every registered data set, in registration order."""
    return tuple(_REGISTRY.values())


def dataset(name: str) -> DatasetSpec:
    """The registered data set ``name``, or a ``ConfigError`` listing the registered ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown data set {name!r}; registered: {', '.join(sorted(_REGISTRY))}") from None
