"""Stage 3 of a study, analyses of every analysed model — each trial's best model, and its kept epochs when
the study keeps them (:mod:`raysym.stages.checkpoints`): Hessian spectrum and trace, pseudo-Goldstone scan,
pT smearing and learned symmetry (docs/methods.md §6.2–6.4, §6.7), and any analysis a user registers.

Each analysis is a declaration (:mod:`raysym.stages.analysis_spec`; the registered ones are listed in
:mod:`raysym.stages.analysis_registry`): its settings section and key, its table, how a model's
measurement splits into small seeded jobs, and what each finished job completes. The jobs are fanned out
as Ray tasks (:func:`raysym.fanout.fan_out`): independent Lanczos restarts and groups of Hutchinson probes
of all models run side by side, so more workers finish sooner while the numbers stay the same. Each
analysis's rows go to its table, keyed by the model (``<trial id>`` for a best model, ``<trial
id>-e<epoch>`` for a kept epoch) and its key, so a rerun with the same settings skips what is stored.
Every row carries the trial keys, the epoch and the ``best`` marker.

There is no barrier between kinds of work: a model's Goldstone scan starts as soon as its Lanczos
restarts have given ν1, its next round of trace probes as soon as the last round is in (when a precision
is asked for), while other models' jobs keep the workers busy. Jobs start longest first
(:func:`~raysym.stages.analysis_spec.job_priority`: a job's cost plus that of the work waiting for it),
so the short ones fill the last gaps. This module knows no analysis by name: it asks each one what a
finished job makes runnable and when a model's rows are complete.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import pandas as pd

from raysym.data.jetset import JetSet, TaskJets
from raysym.fanout import cluster_window, fan_out, share
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.analysis_registry import registered
from raysym.stages.analysis_spec import AnalysisSpec, Inputs, Job, Slot, Step, job_priority, provider, run_job
from raysym.stages.checkpoints import best_models, model_key, which_weights
from raysym.store import ResultStore, row_keys

__all__ = ["AnalysisSettings", "run_analysis_stage"]

log = logging.getLogger(__name__)


class _AnalysisRun:
    """The driver side of one stage run: for every model, a :class:`Slot` per analysis it still needs (or
    whose product a needed one waits for); what each result completes, and the rows."""

    def __init__(self, store: ResultStore, trials: pd.DataFrame, settings: AnalysisSettings, eval_size: int,
                 specs: tuple[AnalysisSpec, ...]):
        self.store, self.settings, self.eval_size, self.specs = store, settings, eval_size, specs
        self.counts: dict[str, int] = defaultdict(int)
        self.keys = {spec.name: spec.key(settings) for spec in specs}
        self.shared: dict = {}
        self.slots: dict[str, dict[str, Slot]] = defaultdict(dict)  # model id -> analysis name -> slot
        self.products: dict[str, dict[str, object]] = defaultdict(dict)
        self.ready: list[Job] = []
        self.started: set[int] = set()
        for _, trial in trials.iterrows():
            self._plan(trial)

    # -- what to run ----------------------------------------------------------------------------------

    def _plan(self, trial: pd.Series) -> None:
        """The analyses a model still needs (on, meant for this model, not stored), and the providers of
        what they wait for."""
        s, slots = self.settings, self.slots[trial["model_id"]]
        for spec in self.specs:
            if spec.wanted(trial, s) and not self.store.has(spec.table, model_key(trial, self.keys[spec.name])):
                slots[spec.name] = self._slot(spec, trial, measure=True)
        for spec in [slot.spec for slot in slots.values()]:
            for product in spec.needs(s):
                source = provider(product)
                slots.setdefault(source.name, self._slot(source, trial, measure=False)).supply.add(product)

    def _slot(self, spec: AnalysisSpec, trial: pd.Series, measure: bool) -> Slot:
        return Slot(spec, trial, self.settings, self.store, self.eval_size, measure=measure, shared=self.shared)

    def initial_jobs(self) -> list[Job]:
        """Every job runnable now: each slot's first jobs (and whatever they hand on at once)."""
        for slot in [slot for slots in self.slots.values() for slot in slots.values()]:
            self.started.add(id(slot))
            self._apply(slot, slot.spec.start(slot))
            for product in slot.spec.needs(self.settings) if slot.measure else ():
                if product in self.products[slot.model_id]:  # handed on before this slot started
                    self._apply(slot, slot.spec.given(slot, product, self.products[slot.model_id][product]))
        ready, self.ready = self.ready, []
        return ready

    # -- what a result completes ----------------------------------------------------------------------

    def record(self, job: Job, outcome: dict) -> None:
        """Take one finished job: write the rows it completes and queue the jobs it makes runnable."""
        slot = self.slots[job.model_id][job.analysis]
        self._apply(slot, slot.spec.receive(slot, job, outcome))

    def follow_ups(self, job: Job, outcome: dict) -> list[Job]:
        """The jobs :meth:`record` made runnable (``fan_out``'s follow-up hook)."""
        ready, self.ready = self.ready, []
        return ready

    def _apply(self, slot: Slot, step: Step) -> None:
        """Queue a step's jobs, write its rows, and hand its products to the model's analyses that wait."""
        self.ready += step.jobs
        if step.rows is not None and slot.measure:
            self._write(slot, step.rows)
        for product, value in step.products.items():
            self.products[slot.model_id][product] = value
            for other in list(self.slots[slot.model_id].values()):
                if other.measure and id(other) in self.started and product in other.spec.needs(self.settings):
                    self._apply(other, other.spec.given(other, product, value))

    def _write(self, slot: Slot, rows: list[dict]) -> None:
        key = self.keys[slot.spec.name]
        keys = {**row_keys(slot.trial), **which_weights(slot.trial)}
        self.store.write(slot.spec.table, [{**keys, **row, "settings_key": key} for row in rows],
                         key=model_key(slot.trial, key))
        self.counts[slot.spec.table] += 1


def task_window(settings: AnalysisSettings, use_ray: bool):
    """How many analysis tasks to hand Ray at once (:func:`raysym.fanout.cluster_window`); None without Ray."""
    return cluster_window(settings.cpus_per_task) if use_ray else None


def run_analysis_stage(store: ResultStore, trials: pd.DataFrame, train_jets: TaskJets, test_jets: JetSet,
                       settings: AnalysisSettings, *, task: str = "g_vs_w", spread: bool = True,
                       progress: bool = True, use_ray: bool = True, timeline: list | None = None) -> dict[str, int]:
    """Run every registered analysis missing from the store for ``trials``; return how many models each
    table gained.

    ``trials`` are trials-table rows (their best models) or the rows of
    :func:`raysym.stages.checkpoints.analysed_models` (best models and kept epochs).

    ``timeline``, when given, gets one entry per finished job — its kind, trial, worker process, wall-clock
    start and seconds — so a benchmark can see how busy each worker was and where the tail is."""
    specs = registered()
    counts = {spec.table: 0 for spec in specs}
    if trials.empty:
        return counts
    if "model_id" not in trials:
        trials = best_models(trials)
    inputs = Inputs(train_jets, test_jets, task, settings)
    args: tuple = (share(inputs, use_ray), {spec.name: spec for spec in specs})
    run = _AnalysisRun(store, trials, settings, eval_size=min(settings.hessian_jets, len(train_jets)), specs=specs)
    n_test = len(test_jets.for_task(task))
    for job, outcome in fan_out(run_job, run.initial_jobs(), args=args, resources={"num_cpus": settings.cpus_per_task},
                                spread=spread, progress=progress, desc="analyses", use_ray=use_ray,
                                priority=lambda job: job_priority(job, settings, n_test), follow_up=run.follow_ups,
                                max_in_flight=task_window(settings, use_ray)):
        run.record(job, outcome)
        if timeline is not None:
            timeline.append({"kind": job.kind, "model_id": job.model_id, "worker": outcome["worker"],
                             "started": outcome["started"], "seconds": outcome["seconds"]})
    return {**counts, **run.counts}
