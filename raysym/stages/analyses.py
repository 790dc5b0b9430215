"""Stage 3 of a study, analyses of every best model: Hessian spectrum and trace, pseudo-Goldstone scan,
pT smearing (docs/methods.md §6.2–6.4).

The work is cut into small seeded jobs (:mod:`raysym.stages.analysis_jobs`, which also holds
:class:`AnalysisSettings`) and fanned out as Ray tasks (:func:`raysym.fanout.fan_out`): independent
Lanczos restarts and groups of Hutchinson probes of all models run side by side, so more workers finish
sooner while the numbers stay the same. The Goldstone scan needs ν1 and runs second. Results go to the
store tables ``hessian``, ``spectrum`` (the SLQ eigenvalue density on a grid), ``goldstone`` and
``smearing``, keyed by trial and a hash of the settings, so a rerun with the same settings skips what is
stored; ν1 is saved beside the model file.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import pandas as pd
import torch

from raysym.artifacts import save_torch, sibling
from raysym.data.jetset import JetSet, TaskJets
from raysym.fanout import fan_out, share
from raysym.hessian import DensityResult, combine
from raysym.hessian.results import TraceEstimate
from raysym.stages.analysis_jobs import (
    EIGEN,
    GOLDSTONE,
    SMEARING,
    SPECTRUM,
    TRACE,
    AnalysisSettings,
    Job,
    probe_groups,
    run_job,
)
from raysym.store import ResultStore, row_keys

__all__ = ["AnalysisSettings", "run_analysis_stage"]

log = logging.getLogger(__name__)


def _resources(settings: AnalysisSettings) -> dict[str, float]:
    return {"num_cpus": settings.cpus_per_task}


def _phase_one_jobs(store: ResultStore, trials: pd.DataFrame, settings: AnalysisSettings) -> list[Job]:
    """Eigen restarts, trace probe groups, spectrum probes and smearing sweeps not yet in the store."""
    jobs = []
    pyhessian = settings.hessian_backend == "pyhessian"
    for _, trial in trials.iterrows():
        tid, path = trial["trial_id"], trial["model_path"]
        hessian = settings.hessian and not store.has("hessian", f"{tid}-{settings.hessian_key()}")
        spectrum = _wants_spectrum(store, tid, settings)
        if hessian or (spectrum and settings.spectrum_probes == 0):  # the λ1 runs are the spectrum's probes
            restarts = 1 if pyhessian else settings.eigen_restarts
            jobs += [Job(tid, path, EIGEN, r) for r in range(restarts)]
        if hessian:
            whole = pyhessian or settings.trace_method == "hutch++"
            groups = [()] if whole else probe_groups(settings.trace_probes, settings.probes_per_task)
            jobs += [Job(tid, path, TRACE, g) for g in groups]
        if spectrum and settings.spectrum_probes > 0:
            jobs += [Job(tid, path, SPECTRUM, probe) for probe in range(settings.spectrum_probes)]
        if settings.smearing and not store.has("smearing", f"{tid}-{settings.smearing_key()}"):
            jobs.append(Job(tid, path, SMEARING))
    return jobs


def _wants_spectrum(store: ResultStore, trial_id: str, settings: AnalysisSettings) -> bool:
    return settings.hessian and settings.spectrum and not store.has("spectrum", f"{trial_id}-{settings.spectrum_key()}")


def _spectrum_rows(trial: pd.Series, probes: list[dict], settings: AnalysisSettings) -> list[dict]:
    """The SLQ eigenvalue density of one trial on a grid, from its probes' quadratures (docs/methods.md §6.2)."""
    nodes = [torch.tensor(p["result"]["quadrature"][0], dtype=torch.float64) for p in probes]
    weights = [torch.tensor(p["result"]["quadrature"][1], dtype=torch.float64) for p in probes]
    result = DensityResult(nodes, weights, probes[0]["result"]["n_params"],
                           sum(p["result"]["n_hvp"] for p in probes), sum(p["seconds"] for p in probes),
                           settings.hessian_seed)
    sigma = result.default_sigma()
    grid, density = result.density(result.grid(points=settings.spectrum_points, sigma=sigma), sigma)
    return [{**row_keys(trial), "eigenvalue": float(t), "density": float(d), "sigma": sigma, "n_probes": len(probes),
             "n_nodes": sum(len(n) for n in nodes), "settings_key": settings.spectrum_key()}
            for t, d in zip(grid, density)]


def _hessian_rows(trial: pd.Series, eigen: list[dict], traces: list, settings: AnalysisSettings,
                  eval_size: int) -> tuple[list[dict], torch.Tensor]:
    """Rows (one per eigenvalue index k) and ν1 from all of a trial's eigen and trace jobs.

    The restart with the largest λ1 wins (ties: the lowest restart number), whatever order they finished in.
    """
    best = max(sorted(eigen, key=lambda r: r["result"]["restart"]), key=lambda r: r["result"]["eigenvalues"][0])
    trace = traces[0]["result"] if isinstance(traces[0]["result"], TraceEstimate) else \
        combine([t["result"] for t in traces])
    n_hvp = sum(r["result"]["n_hvp"] for r in eigen) + trace.n_hvp
    seconds = sum(r["seconds"] for r in eigen) + sum(t["seconds"] for t in traces)
    rows = [{**row_keys(trial), "k": k + 1, "eigenvalue": value, "trace": trace.trace,
             "trace_stderr": trace.standard_error, "n_probes": trace.n_probes, "n_hvp": n_hvp,
             "eigen_hvp": sum(r["result"]["n_hvp"] for r in eigen), "trace_hvp": trace.n_hvp,
             "seconds": seconds, "backend": settings.hessian_backend, "eval_set_size": eval_size,
             "restarts": len(eigen), "trace_method": trace.method, "settings_key": settings.hessian_key()}
            for k, value in enumerate(best["result"]["eigenvalues"])]
    return rows, best["result"]["nu1"]


def run_analysis_stage(store: ResultStore, trials: pd.DataFrame, train_jets: TaskJets, test_jets: JetSet,
                       settings: AnalysisSettings, *, task: str = "g_vs_w", spread: bool = True,
                       progress: bool = True, use_ray: bool = True) -> dict[str, int]:
    """Run every analysis missing from the store for ``trials``; return how many trials each table gained."""
    if trials.empty:
        return {"hessian": 0, "smearing": 0, "goldstone": 0, "spectrum": 0}
    by_id = {row["trial_id"]: row for _, row in trials.iterrows()}
    args: tuple = (share(train_jets, use_ray), share(test_jets, use_ray), task, settings)
    eval_size = min(settings.hessian_jets, len(train_jets))
    counts = defaultdict(int)
    parts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    jobs = _phase_one_jobs(store, trials, settings)
    for job, outcome in fan_out(run_job, jobs, args=args, resources=_resources(settings), spread=spread,
                                progress=progress, desc="analyses", use_ray=use_ray):
        trial = by_id[job.trial_id]
        if job.kind == SMEARING:
            rows = [{**row_keys(trial), **r, "settings_key": settings.smearing_key()} for r in outcome["result"]]
            store.write("smearing", rows, key=f"{job.trial_id}-{settings.smearing_key()}")
            counts["smearing"] += 1
        else:
            parts[job.trial_id][job.kind].append(outcome)
    for trial_id, done in parts.items():
        trial = by_id[trial_id]
        if done[TRACE]:
            rows, nu1 = _hessian_rows(trial, done[EIGEN], done[TRACE], settings, eval_size)
            nu1_path = save_torch(nu1, sibling(trial["model_path"], f"{trial_id}.nu1-{settings.hessian_key()}.pt"))
            for row in rows:
                row["nu1_path"] = nu1_path
            store.write("hessian", rows, key=f"{trial_id}-{settings.hessian_key()}")
            counts["hessian"] += 1
        if _wants_spectrum(store, trial_id, settings):
            probes = done[SPECTRUM] if settings.spectrum_probes else done[EIGEN]
            store.write("spectrum", _spectrum_rows(trial, probes, settings),
                        key=f"{trial_id}-{settings.spectrum_key()}")
            counts["spectrum"] += 1
    counts["goldstone"] = _goldstone_phase(store, by_id, settings, args, spread, progress, use_ray)
    return dict(counts)


def _goldstone_phase(store, by_id, settings, args, spread, progress, use_ray) -> int:
    """The scans along each trial's stored ν1 (phase two: they need the Hessian results)."""
    if not (settings.goldstone and settings.hessian):
        return 0
    hessian = store.load("hessian")
    nu1 = {r.trial_id: r.nu1_path for r in hessian[hessian["settings_key"] == settings.hessian_key()].itertuples()}
    jobs = [Job(tid, t["model_path"], GOLDSTONE, nu1[tid]) for tid, t in by_id.items()
            if tid in nu1 and not store.has("goldstone", f"{tid}-{settings.goldstone_key()}")]
    for job, outcome in fan_out(run_job, jobs, args=args, resources=_resources(settings), spread=spread,
                                progress=progress, desc="goldstone", use_ray=use_ray):
        rows = [{**row_keys(by_id[job.trial_id]), **r, "settings_key": settings.goldstone_key()}
                for r in outcome["result"]]
        store.write("goldstone", rows, key=f"{job.trial_id}-{settings.goldstone_key()}")
    return len(jobs)
