"""Stage 3 of a study, analyses of every analysed model — each trial's best model, and its kept epochs when
the study keeps them (:mod:`raysym.stages.checkpoints`): Hessian spectrum and trace, pseudo-Goldstone scan,
pT smearing and learned symmetry (docs/methods.md §6.2–6.4, §6.7).

The work is cut into small seeded jobs (:mod:`raysym.stages.analysis_jobs`, which also holds
:class:`AnalysisSettings`) and fanned out as Ray tasks (:func:`raysym.fanout.fan_out`): independent
Lanczos restarts and groups of Hutchinson probes of all models run side by side, so more workers finish
sooner while the numbers stay the same. Results go to the store tables ``hessian``, ``spectrum`` (the
SLQ eigenvalue density on a grid), ``goldstone``, ``smearing`` and ``symmetry``, keyed by the model
(``<trial id>`` for a best model, ``<trial id>-e<epoch>`` for a kept epoch) and a hash of the settings,
so a rerun with the same settings skips what is stored; ν1 is saved beside the model file. Every row
carries the trial keys, the epoch and the ``best`` marker. The spectrum and the Goldstone scan describe
where training ended and are computed for best models only.

There is no barrier between kinds of work: a model's Goldstone scan starts as soon as its Lanczos
restarts have given ν1, its next round of trace probes as soon as the last round is in (when a
precision is asked for), while other models' jobs keep the workers busy. Jobs start longest first
(:func:`~raysym.stages.analysis_jobs.job_priority`: a job's cost plus that of the work waiting for it), so the short ones fill the last gaps. What each finished
job makes runnable, and when a model's rows are complete, is :class:`_TrialWork`'s bookkeeping.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd
import torch

from raysym.artifacts import save_torch, sibling
from raysym.data.jetset import JetSet, TaskJets
from raysym.fanout import cluster_window, fan_out, share
from raysym.hessian import DensityResult, combine
from raysym.hessian.precision import precision_reached
from raysym.hessian.results import TraceEstimate
from raysym.stages.analysis_jobs import (
    EIGEN,
    GOLDSTONE,
    SMEARING,
    SPECTRUM,
    SYMMETRY,
    TRACE,
    WHOLE_TRACE_METHODS,
    AnalysisSettings,
    Job,
    job_priority,
    next_probe_round,
    probe_groups,
    run_job,
)
from raysym.stages.checkpoints import best_models, model_key, which_weights
from raysym.store import ResultStore, row_keys

__all__ = ["AnalysisSettings", "run_analysis_stage"]

log = logging.getLogger(__name__)


@dataclass
class _TrialWork:
    """One model's analyses still to finish (a trial's best model or a kept epoch): the parts received so
    far and what is wanted."""

    trial: pd.Series
    hessian: bool
    spectrum: bool
    goldstone: bool
    symmetry: bool
    eigen_restarts: int = 0
    eigen: list = field(default_factory=list)
    traces: list = field(default_factory=list)
    trace_outstanding: int = 0
    trace_stop: str | None = None
    spectrum_probes: list = field(default_factory=list)
    nu1_path: str | None = None
    deflation_path: str | None = None

    @property
    def model_id(self) -> str:
        return self.trial["model_id"]

    def key(self, settings_key: str) -> str:
        return model_key(self.trial, settings_key)

    @property
    def row_keys(self) -> dict:
        """What each of this model's rows starts with: the trial keys, and the epoch and best marker."""
        return {**row_keys(self.trial), **which_weights(self.trial)}

    @property
    def model_path(self) -> str:
        return self.trial["model_path"]


class _AnalysisRun:
    """The driver side of one stage run: which jobs to start, what each result completes, and the rows."""

    def __init__(self, store: ResultStore, trials: pd.DataFrame, settings: AnalysisSettings, eval_size: int):
        self.store, self.settings, self.eval_size = store, settings, eval_size
        self.counts: dict[str, int] = defaultdict(int)
        self.work = {row["model_id"]: self._plan(row) for _, row in trials.iterrows()}
        self.ready: list[Job] = []

    # -- what to run ----------------------------------------------------------------------------------

    def _plan(self, trial: pd.Series) -> _TrialWork:
        """What a model still needs: the Hessian, smearing and symmetry of every model; the spectrum and
        the Goldstone scan of best models only (they describe where training ended)."""
        s, best = self.settings, bool(trial["best"])
        hessian = s.hessian and not self.store.has("hessian", model_key(trial, s.hessian_key()))
        spectrum = s.hessian and s.spectrum and best and not self.store.has("spectrum",
                                                                           model_key(trial, s.spectrum_key()))
        goldstone = s.hessian and s.goldstone and best and not self.store.has("goldstone",
                                                                             model_key(trial, s.goldstone_key()))
        symmetry = s.symmetry and not self.store.has("symmetry", model_key(trial, s.symmetry_key()))
        return _TrialWork(trial, hessian, spectrum, goldstone, symmetry)

    def initial_jobs(self) -> list[Job]:
        """Every job runnable now: eigen restarts, the first round of trace probes (unless they need the
        eigenvectors), spectrum probes, smearing sweeps, and Goldstone scans along a stored ν1."""
        s, jobs = self.settings, []
        stored_nu1 = self._stored_nu1()
        for model, work in self.work.items():
            path = work.model_path
            needs_eigen = work.hessian or (work.spectrum and s.spectrum_probes == 0) or \
                (work.goldstone and work.trial["trial_id"] not in stored_nu1)
            if needs_eigen:
                work.eigen_restarts = 1 if s.hessian_backend == "pyhessian" else s.eigen_restarts
                jobs += [Job(model, path, EIGEN, r) for r in range(work.eigen_restarts)]
            if work.hessian and s.trace_method != "deflated-hutchinson":  # a deflated trace waits for the restarts
                jobs += self._trace_round(work, first=True)
            if work.spectrum and s.spectrum_probes > 0:
                jobs += [Job(model, path, SPECTRUM, probe) for probe in range(s.spectrum_probes)]
            if s.smearing and not self.store.has("smearing", work.key(s.smearing_key())):
                jobs.append(Job(model, path, SMEARING))
            if work.symmetry:
                jobs.append(Job(model, path, SYMMETRY))
            if work.goldstone and not needs_eigen:
                work.nu1_path = stored_nu1[work.trial["trial_id"]]
                jobs.append(Job(model, path, GOLDSTONE, needs=work.nu1_path))
        return jobs

    def _stored_nu1(self) -> dict[str, str]:
        """ν1 files of best models whose Hessian rows (these settings) are stored: a Goldstone scan can start
        at once."""
        if not any(work.goldstone and not work.hessian for work in self.work.values()):
            return {}
        hessian = self.store.load("hessian")
        hessian = hessian[hessian["settings_key"] == self.settings.hessian_key()]
        if "best" in hessian:  # rows from before trajectories have no marker: they are best models'
            hessian = hessian[hessian["best"].isna() | (hessian["best"] == True)]  # noqa: E712
        return dict(zip(hessian["trial_id"], hessian["nu1_path"]))

    def _trace_round(self, work: _TrialWork, first: bool = False) -> list[Job]:
        """The next round of trace jobs of a trial: the whole estimate as one job (Hutch++, PyHessian), or
        groups of Hutchinson probes — the fixed count, or as many more as a precision target projects."""
        s = self.settings
        if s.hessian_backend == "pyhessian" or s.trace_method in WHOLE_TRACE_METHODS:
            groups = [()] if first else []
        elif first:
            groups = probe_groups(s.trace_probes, s.probes_per_task)
        else:
            groups = next_probe_round(self._trace(work), s)
        jobs = [Job(work.model_id, work.model_path, TRACE, g, needs=work.deflation_path) for g in groups]
        work.trace_outstanding += len(jobs)
        return jobs

    # -- what a result completes ----------------------------------------------------------------------

    def record(self, job: Job, outcome: dict) -> None:
        """Take one finished job: write the rows it completes and queue the jobs it makes runnable."""
        work = self.work[job.model_id]
        if job.kind == SMEARING:
            self._write_rows("smearing", work, outcome["result"], self.settings.smearing_key())
        elif job.kind == SYMMETRY:
            self._write_rows("symmetry", work, outcome["result"], self.settings.symmetry_key())
        elif job.kind == GOLDSTONE:
            self._write_rows("goldstone", work, outcome["result"], self.settings.goldstone_key())
        elif job.kind == EIGEN:
            work.eigen.append(outcome)
            if len(work.eigen) == work.eigen_restarts:
                self._eigen_complete(work)
        elif job.kind == TRACE:
            work.traces.append(outcome)
            work.trace_outstanding -= 1
            if work.trace_outstanding == 0:
                self._trace_round_complete(work)
        elif job.kind == SPECTRUM:
            work.spectrum_probes.append(outcome)
            if len(work.spectrum_probes) == self.settings.spectrum_probes:
                self._write_spectrum(work, work.spectrum_probes)

    def follow_ups(self, job: Job, outcome: dict) -> list[Job]:
        """The jobs :meth:`record` made runnable (``fan_out``'s follow-up hook)."""
        ready, self.ready = self.ready, []
        return ready

    def _eigen_complete(self, work: _TrialWork) -> None:
        """All restarts in: ν1 of the best restart is saved, the Goldstone scan along it can start, and the
        λ1 runs give the spectrum when they are its probes."""
        s = self.settings
        nu1 = _best_restart(work.eigen)["result"]["nu1"]
        if work.hessian or work.goldstone:
            work.nu1_path = save_torch(nu1, sibling(work.model_path, f"{work.model_id}.nu1-{s.hessian_key()}.pt"))
        if work.goldstone:
            self.ready.append(Job(work.model_id, work.model_path, GOLDSTONE, needs=work.nu1_path))
        if work.spectrum and s.spectrum_probes == 0:
            self._write_spectrum(work, work.eigen)
        if work.hessian and s.trace_method == "deflated-hutchinson":
            deflation = _best_restart(work.eigen)["result"]["deflation"]
            work.deflation_path = save_torch(deflation, sibling(
                work.model_path, f"{work.model_id}.deflation-{s.hessian_key()}.pt"))
            self.ready += self._trace_round(work, first=True)
        self._hessian_if_complete(work)

    def _trace_round_complete(self, work: _TrialWork) -> None:
        s = self.settings
        if s.trace_rel_stderr is None or isinstance(work.traces[0]["result"], TraceEstimate):
            work.trace_stop = "fixed" if s.trace_rel_stderr is None else work.traces[0]["result"].extra.get("stop")
        else:
            estimate = self._trace(work)
            if precision_reached(estimate, s.trace_rel_stderr):
                work.trace_stop = "precision"
            elif estimate.n_probes >= s.trace_max_probes:
                work.trace_stop = "cap"
            else:
                self.ready += self._trace_round(work)
                return
        self._hessian_if_complete(work)

    def _trace(self, work: _TrialWork) -> TraceEstimate:
        first = work.traces[0]["result"]
        return first if isinstance(first, TraceEstimate) else combine([t["result"] for t in work.traces])

    def _hessian_if_complete(self, work: _TrialWork) -> None:
        """Write the trial's Hessian rows once both its eigen restarts and its trace are complete."""
        if not work.hessian or work.trace_stop is None or len(work.eigen) < work.eigen_restarts:
            return
        s, trace = self.settings, self._trace(work)
        eigen_hvp = sum(r["result"]["n_hvp"] for r in work.eigen)
        seconds = sum(r["seconds"] for r in work.eigen) + sum(t["seconds"] for t in work.traces)
        rows = [{**work.row_keys, "k": k + 1, "eigenvalue": value, "trace": trace.trace,
                 "trace_stderr": trace.standard_error, "n_probes": trace.n_probes, "n_hvp": eigen_hvp + trace.n_hvp,
                 "eigen_hvp": eigen_hvp, "trace_hvp": trace.n_hvp, "seconds": seconds,
                 "backend": s.hessian_backend, "eval_set_size": self.eval_size, "restarts": len(work.eigen),
                 "trace_method": trace.method, "trace_stop": work.trace_stop, "nu1_path": work.nu1_path,
                 "settings_key": s.hessian_key()}
                for k, value in enumerate(_best_restart(work.eigen)["result"]["eigenvalues"])]
        self.store.write("hessian", rows, key=work.key(s.hessian_key()))
        self.counts["hessian"] += 1

    def _write_spectrum(self, work: _TrialWork, probes: list[dict]) -> None:
        s = self.settings
        self.store.write("spectrum", _spectrum_rows(work.row_keys, probes, s), key=work.key(s.spectrum_key()))
        self.counts["spectrum"] += 1

    def _write_rows(self, table: str, work: _TrialWork, rows: list[dict], key: str) -> None:
        self.store.write(table, [{**work.row_keys, **r, "settings_key": key} for r in rows], key=work.key(key))
        self.counts[table] += 1


def _best_restart(eigen: list[dict]) -> dict:
    """The restart with the largest λ1 (ties: the lowest restart number), whatever order they finished in."""
    return max(sorted(eigen, key=lambda r: r["result"]["restart"]), key=lambda r: r["result"]["eigenvalues"][0])


def _spectrum_rows(keys: dict, probes: list[dict], settings: AnalysisSettings) -> list[dict]:
    """The SLQ eigenvalue density of one trial on a grid, from its probes' quadratures (docs/methods.md §6.2)."""
    nodes = [torch.tensor(p["result"]["quadrature"][0], dtype=torch.float64) for p in probes]
    weights = [torch.tensor(p["result"]["quadrature"][1], dtype=torch.float64) for p in probes]
    result = DensityResult(nodes, weights, probes[0]["result"]["n_params"],
                           sum(p["result"]["n_hvp"] for p in probes), sum(p["seconds"] for p in probes),
                           settings.hessian_seed)
    sigma = result.default_sigma()
    grid, density = result.density(result.grid(points=settings.spectrum_points, sigma=sigma), sigma)
    return [{**keys, "eigenvalue": float(t), "density": float(d), "sigma": sigma, "n_probes": len(probes),
             "n_nodes": sum(len(n) for n in nodes), "settings_key": settings.spectrum_key()}
            for t, d in zip(grid, density)]


def task_window(settings: AnalysisSettings, use_ray: bool):
    """How many analysis tasks to hand Ray at once (:func:`raysym.fanout.cluster_window`); None without Ray."""
    return cluster_window(settings.cpus_per_task) if use_ray else None


def run_analysis_stage(store: ResultStore, trials: pd.DataFrame, train_jets: TaskJets, test_jets: JetSet,
                       settings: AnalysisSettings, *, task: str = "g_vs_w", spread: bool = True,
                       progress: bool = True, use_ray: bool = True, timeline: list | None = None) -> dict[str, int]:
    """Run every analysis missing from the store for ``trials``; return how many models each table gained.

    ``trials`` are trials-table rows (their best models) or the rows of
    :func:`raysym.stages.checkpoints.analysed_models` (best models and kept epochs).

    ``timeline``, when given, gets one entry per finished job — its kind, trial, worker process, wall-clock
    start and seconds — so a benchmark can see how busy each worker was and where the tail is."""
    counts = {"hessian": 0, "smearing": 0, "goldstone": 0, "spectrum": 0, "symmetry": 0}
    if trials.empty:
        return counts
    if "model_id" not in trials:
        trials = best_models(trials)
    args: tuple = (share(train_jets, use_ray), share(test_jets, use_ray), task, settings)
    run = _AnalysisRun(store, trials, settings, eval_size=min(settings.hessian_jets, len(train_jets)))
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
