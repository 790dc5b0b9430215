"""What an analysis of the analysis stage is, as one declaration (docs/methods.md §6), and the registry.

Every analysis — the Hessian's eigenpairs and trace, its eigenvalue density, the pseudo-Goldstone scan,
the smearing sweep, the learned symmetry, or one a user adds — is an :class:`AnalysisSpec`: the fields of
:class:`~raysym.stages.analysis_settings.AnalysisSettings` that change its numbers (its settings section, so
its key), the field that switches it on, the table its rows go to, how one model's measurement splits into
jobs and what each finished job completes, what a job costs, and the figures drawn from its table. The
stage (:mod:`raysym.stages.analyses`) and the jobs it fans out read the registry; nothing dispatches on
an analysis's name.

Analyses may read each other's results: an analysis that *provides* a product (the Hessian's ν1 and its
Lanczos runs) hands it to those that *need* it (the Goldstone scan, the density from the λ1 runs). When a
model's provider result is stored already and only the consumer is missing, the provider is asked to
supply just the product (:meth:`AnalysisSpec.supply`), which may cost no job at all. A consumer's key
includes its providers' keys (``after``), since its numbers change with theirs.

Adding an analysis is one module that declares a spec and calls :func:`register_analysis`, and one import
line in :mod:`raysym.stages.analysis_registry`; an analysis with its own new table declares it here too
(``declares``), and a figure drawn from it (``figures``, :class:`raysym.report.figures.FigureSpec`).
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from raysym.errors import ConfigError
from raysym.settings_key import canonical, settings_key
from raysym.tables import TABLES, Table, register_table


@dataclass(frozen=True)
class Job:
    """One task: step ``kind`` of analysis ``analysis`` on the model ``model_id`` (a trial's best model, or
    one of its kept epochs: :mod:`raysym.stages.checkpoints`) in ``model_path``; ``part`` is what the step
    is cut by (a Lanczos restart number, probe indices, a probe number); ``needs`` the file of an earlier
    result it reads (ν1 for a Goldstone scan, the deflation of a deflated trace)."""

    model_id: str
    model_path: str
    kind: str
    part: Any = None
    needs: str | None = None
    analysis: str = ""

    def __str__(self) -> str:
        part = "" if self.part is None else f" {self.part}"
        return f"{self.kind}{part} of model {self.model_id}"


@dataclass(frozen=True)
class Inputs:
    """What every job of one stage run may read: the training jets (the Hessian's loss), the test jets, the
    task, and the settings. Shared once through Ray's object store."""

    train_jets: Any
    test_jets: Any
    task: str
    settings: Any


@dataclass
class Step:
    """What starting an analysis on a model, or one of its finished jobs, leads to: jobs to run now, the
    model's rows when they are complete (then written to the analysis's table), and products for the
    analyses that wait for them."""

    jobs: list[Job] = field(default_factory=list)
    rows: list[dict] | None = None
    products: dict[str, Any] = field(default_factory=dict)


@dataclass
class Slot:
    """One analysis of one model during a stage run: ``measure`` (its rows are wanted) and/or ``supply``
    (products other analyses of the model need); ``state`` is the analysis's own bookkeeping."""

    spec: "AnalysisSpec"
    trial: Any
    settings: Any
    store: Any
    eval_size: int
    measure: bool = True
    supply: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)
    #: Shared by every slot of one stage run: what is read once (a stored table) rather than per model.
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.trial["model_id"]

    @property
    def model_path(self) -> str:
        return self.trial["model_path"]

    @property
    def best(self) -> bool:
        return bool(self.trial["best"])

    def job(self, kind: str, part: Any = None, needs: str | None = None) -> Job:
        return Job(self.model_id, self.model_path, kind, part, needs, self.spec.name)


class AnalysisSpec:
    """One analysis, declared. Subclasses set the class attributes and implement :meth:`start`,
    :meth:`receive`, :meth:`run` and :meth:`cost`; :class:`PerModelAnalysis` does the common case."""

    #: Its name: the job's ``analysis``, its key's name in a study's ``keys_json``.
    name: ClassVar[str]
    #: The store table its rows go to (declared in :mod:`raysym.tables`, or by ``declares``).
    table: ClassVar[str]
    #: A new table this analysis brings (registered with the spec); None for a table raysym declares.
    declares: ClassVar[Table | None] = None
    #: The settings fields whose values change its numbers: its settings section, all hashed into its key.
    fields: ClassVar[tuple[str, ...]] = ()
    #: Settings of its own, for an analysis added without touching AnalysisSettings: a dataclass whose
    #: fields have defaults, filled from ``AnalysisSettings.options[name]`` (:meth:`options_of`); all of
    #: them are in its section, so its key.
    Options: ClassVar[type | None] = None
    #: The boolean settings field that turns it on (None: always on). Whether it runs changes none of its
    #: numbers, so the switch is not in its key.
    switch: ClassVar[str | None] = None
    #: Analyses whose results it reads: their keys are part of its key.
    after: ClassVar[tuple[str, ...]] = ()
    #: Measured on best models only (what describes where training ended), not on kept epochs.
    best_only: ClassVar[bool] = False
    #: Products it hands to other analyses of the same model, and those it waits for.
    provides: ClassVar[tuple[str, ...]] = ()
    #: Figures drawn from its table (:class:`raysym.report.figures.FigureSpec`), for an analysis that brings
    #: its own; the built-in ones are drawn by raysym.report.figures.
    figures: ClassVar[tuple] = ()
    #: The heading of its report section (:meth:`report_blocks`).
    report_title: ClassVar[str | None] = None

    def needs(self, settings) -> tuple[str, ...]:
        """Products of other analyses this one waits for, with these settings."""
        return ()

    def enabled(self, settings) -> bool:
        return self.switch is None or bool(getattr(settings, self.switch))

    def section(self, settings) -> dict[str, Any]:
        """Its settings section: the values of its ``fields``, and its own options whole."""
        section = {name: getattr(settings, name) for name in self.fields}
        if self.Options is not None:
            section["options"] = self.options_of(settings)
        return section

    def options_of(self, settings):
        """Its own settings (``Options``) from ``settings.options``; a name it does not declare, or options
        for an analysis that declares none, is one ``ConfigError`` naming them."""
        given = dict(getattr(settings, "options", {}).get(self.name, {}))
        if self.Options is None:
            if given:
                raise ConfigError(f"analysis {self.name!r} has no options of its own, got {', '.join(sorted(given))}")
            return None
        known = {f.name for f in dataclasses.fields(self.Options)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"analysis {self.name!r}: unknown option(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}")
        try:
            return self.Options(**given)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"analysis {self.name!r}: bad options {given}: {err}") from None

    def key(self, settings) -> str:
        """The identity of its results: a hash of its whole settings section and its providers' keys."""
        upstream = tuple(analysis(name).key(settings) for name in self.after)
        return settings_key(self.name, canonical(self.section(settings)), *upstream)

    def wanted(self, model, settings) -> bool:
        """Whether a model is analysed at all: on, and a best model unless every analysed model is."""
        return self.enabled(settings) and (not self.best_only or bool(model["best"]))

    def start(self, slot: Slot) -> Step:
        """The first jobs of a model (and rows or products at once, where nothing needs computing)."""
        raise NotImplementedError

    def receive(self, slot: Slot, job: Job, outcome: dict) -> Step:
        """A finished job of this analysis: what it completes and what it makes runnable."""
        raise NotImplementedError

    def given(self, slot: Slot, product: str, value: Any) -> Step:
        """A product it needs has arrived."""
        return Step()

    def run(self, job: Job, inputs: Inputs) -> Any:
        """Run one job (in a worker): its result, plain data or tensors."""
        raise NotImplementedError

    def cost(self, job: Job, settings, n_test_jets: int) -> float:
        """A job's expected cost in jet-HVPs (one Hessian-vector product of one jet), for scheduling."""
        raise NotImplementedError

    def unlocks(self, job: Job, settings, n_test_jets: int) -> float:
        """The cost of the work that waits for this job (it starts first): none unless overridden."""
        return 0.0

    def report_blocks(self, run) -> list:
        """The report section of an analysis that brings its own, from the study run's rows
        (:class:`raysym.report.selection.StudyRun`) as blocks of :mod:`raysym.report.document`; empty for
        the built-in analyses, which the report's own sections cover."""
        return []


class PerModelAnalysis(AnalysisSpec):
    """An analysis that is one job per model whose result is the model's rows: implement :meth:`measure`
    and :meth:`model_cost`."""

    def measure(self, model_path: str, inputs: Inputs) -> list[dict]:
        raise NotImplementedError

    def model_cost(self, settings, n_test_jets: int) -> float:
        raise NotImplementedError

    def start(self, slot: Slot) -> Step:
        return Step(jobs=[slot.job(self.name)])

    def receive(self, slot: Slot, job: Job, outcome: dict) -> Step:
        return Step(rows=outcome["result"])

    def run(self, job: Job, inputs: Inputs) -> Any:
        return self.measure(job.model_path, inputs)

    def cost(self, job: Job, settings, n_test_jets: int) -> float:
        return self.model_cost(settings, n_test_jets)


_REGISTRY: dict[str, AnalysisSpec] = {}


def register_analysis(spec: AnalysisSpec) -> AnalysisSpec:
    """Add ``spec`` to the analyses every study runs (in registration order); its table too, when it
    brings one. Registering a second analysis of the same name, or a table of another shape, is an error."""
    if spec.name in _REGISTRY and type(_REGISTRY[spec.name]) is not type(spec):
        raise ConfigError(f"an analysis named {spec.name!r} is registered already")
    for name in spec.provides:
        owner = next((s.name for s in _REGISTRY.values() if name in s.provides and s.name != spec.name), None)
        if owner is not None:
            raise ConfigError(f"analysis {spec.name!r}: product {name!r} is provided by {owner!r} already")
    if spec.declares is not None:
        register_table(spec.table, spec.declares)
    _REGISTRY[spec.name] = spec
    return spec


def unregister_analysis(name: str) -> None:
    """Take an analysis out again, and the table it brought (a test's toy analysis, after its test)."""
    spec = _REGISTRY.pop(name, None)
    if spec is not None and spec.declares is not None:
        TABLES.pop(spec.table, None)


def registered() -> tuple[AnalysisSpec, ...]:
    """Every registered analysis, in registration order."""
    return tuple(_REGISTRY.values())


def analysis(name: str) -> AnalysisSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown analysis {name!r}; registered: {', '.join(_REGISTRY)}") from None


def provider(product: str) -> AnalysisSpec:
    """The analysis that provides ``product``."""
    for spec in _REGISTRY.values():
        if product in spec.provides:
            return spec
    raise ConfigError(f"no registered analysis provides {product!r}")


def analysis_key(settings, name: str) -> str:
    """The key of analysis ``name``'s results with ``settings``."""
    return analysis(name).key(settings)


def check_options(settings) -> None:
    """Every analysis named in ``settings.options`` is registered and takes the options given (one
    ``ConfigError`` naming the first that does not)."""
    for name in getattr(settings, "options", {}):
        analysis(name).options_of(settings)


def analysis_keys(settings) -> dict[str, str]:
    """Every registered analysis's key with ``settings``, by name (a study's ``keys_json`` holds them)."""
    return {spec.name: spec.key(settings) for spec in _REGISTRY.values()}


def run_job(job: Job, inputs: Inputs, specs: Mapping[str, AnalysisSpec]) -> dict[str, Any]:
    """Run one job: the function each fan-out task runs. ``specs`` travel with the task, so a worker needs
    no registry of its own. The outcome also says when (wall clock) and in which process it ran, so a
    benchmark can see how busy each worker was."""
    started, start = time.time(), time.perf_counter()
    result = specs[job.analysis].run(job, inputs)
    return {"result": result, "seconds": time.perf_counter() - start, "started": started, "worker": os.getpid()}


def job_cost(job: Job, settings, n_test_jets: int) -> float:
    """A job's expected cost in jet-HVPs."""
    return analysis(job.analysis).cost(job, settings, n_test_jets)


def job_priority(job: Job, settings, n_test_jets: int) -> float:
    """Which job to start first: its own cost plus the cost of the work that waits for it (a Lanczos restart
    unlocks its model's Goldstone scan, and a deflated trace) — the longest remaining path first, so the
    jobs that can only start late do not end up alone on a busy worker at the end. Never changes a result."""
    spec = analysis(job.analysis)
    return spec.cost(job, settings, n_test_jets) + spec.unlocks(job, settings, n_test_jets)


def settings_fields(settings_type) -> tuple[str, ...]:
    """Every field of a settings class (the identity test walks them)."""
    return tuple(f.name for f in dataclasses.fields(settings_type))
