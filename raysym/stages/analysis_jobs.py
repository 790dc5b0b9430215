"""The units of work of the analysis stage, as plain functions of (model file, jets, settings).

Each job is small enough to be one Ray task and is seeded by its own index — a Lanczos restart by its
restart number, a group of Hutchinson probes by their probe indices — so the combined numbers do not
depend on how many workers ran them (SPEC §6). Nothing here knows about Ray or the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from raysym.analyses.goldstone import goldstone_scan, symmetric_grid
from raysym.analyses.smearing_sweep import smearing_sweep
from raysym.batch import JetBatch
from raysym.data.jetset import JetSet, TaskJets
from raysym.hessian import (
    evaluation_subset,
    hutch_plus_plus,
    hutchinson_samples,
    lanczos_top_eigenpairs,
    training_loss_closure,
)
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues, pyhessian_trace
from raysym.study.config import AnalysisSettings
from raysym.training.checkpoint import load_best_model

EIGEN, TRACE, SMEARING, GOLDSTONE = "eigen", "trace", "smearing", "goldstone"


@dataclass(frozen=True)
class Job:
    """One task: ``kind`` of analysis on the model of ``trial_id``; ``part`` is the restart number
    (eigen), the probe indices (trace), or the ν1 file (goldstone)."""

    trial_id: str
    model_path: str
    kind: str
    part: Any = None


def subset(jets: TaskJets, n_jets: int, seed: int) -> JetBatch:
    """A fixed, seeded subset of the jets as a batch — the same jets for every model (nested in n)."""
    index = evaluation_subset(len(jets), min(n_jets, len(jets)), seed).numpy()
    return JetBatch(*(torch.from_numpy(np.ascontiguousarray(getattr(jets, k)[index])) for k in ("p4", "mask", "y")))


def hessian_closure(model: torch.nn.Module, train_jets: TaskJets, settings: AnalysisSettings):
    """The training loss (BCE) on the fixed Hessian evaluation set, in batches that accumulate exactly."""
    batch = subset(train_jets, settings.hessian_jets, settings.hessian_seed)
    return training_loss_closure(model, batch.p4, batch.mask, batch.y, batch_size=settings.hessian_batch_size,
                                 n_jets=None, seed=settings.hessian_seed)


def eigen_job(model_path: str, restart: int, train_jets: TaskJets, settings: AnalysisSettings) -> dict[str, Any]:
    """Top-k eigenpairs from one seeded start (Lanczos) or PyHessian's power iteration (restart 0 only)."""
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, train_jets, settings)
    if settings.hessian_backend == "pyhessian":
        result = pyhessian_top_eigenvalues(model, closure.batches, top_n=settings.top_k,
                                           max_iter=settings.lanczos_steps, tol=1e-4, seed=restart)
        return {"eigenvalues": [float(v) for v in result.eigenvalues], "nu1": result.eigenvectors[0].float(),
                "n_hvp": result.n_hvp, "seconds": result.seconds, "restart": restart}
    result = lanczos_top_eigenpairs(closure, k=settings.top_k, max_iter=settings.lanczos_steps, seed=restart)
    return {"eigenvalues": [float(v) for v in result.eigenvalues], "nu1": result.eigenvectors[0].float(),
            "n_hvp": result.n_hvp, "seconds": result.seconds, "restart": restart}


def trace_job(model_path: str, probes: tuple[int, ...], train_jets: TaskJets, settings: AnalysisSettings):
    """vᵀHv for the given Rademacher probe indices (``HutchinsonSamples``), or a whole trace estimate
    (Hutch++, or PyHessian's Hutchinson) when the method cannot be split over tasks."""
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, train_jets, settings)
    if settings.hessian_backend == "pyhessian":
        return pyhessian_trace(model, closure.batches, n_probes=settings.trace_probes, seed=settings.hessian_seed)
    if settings.trace_method == "hutch++":
        return hutch_plus_plus(closure, n_hvp=settings.trace_probes, seed=settings.hessian_seed)
    return hutchinson_samples(closure, probes, seed=settings.hessian_seed)


def smearing_job(model_path: str, test_jets: JetSet, task: str, settings: AnalysisSettings) -> list[dict]:
    """ROC-AUC and accuracy versus σ on the test jets of ``task`` (fixed noise seeds)."""
    model, _, _ = load_best_model(model_path)
    return smearing_sweep(model, test_jets.for_task(task), settings.smearing_sigmas, seed=settings.smearing_seed)


def goldstone_job(model_path: str, nu1_path: str, train_jets: TaskJets, settings: AnalysisSettings) -> list[dict]:
    """Loss and R(ε) along ν1 and a random control direction on a fixed set of training jets."""
    model, _, _ = load_best_model(model_path)
    nu1 = torch.load(nu1_path, map_location="cpu", weights_only=True)
    jets = subset(train_jets, settings.goldstone_jets, settings.hessian_seed)
    grid = symmetric_grid(settings.goldstone_eps_max, settings.goldstone_points)
    return goldstone_scan(model, nu1, jets, grid, boost_seed=settings.hessian_seed,
                          control_seed=settings.hessian_seed)


def run_job(job: Job, train_jets: TaskJets, test_jets: JetSet, task: str, settings: AnalysisSettings):
    """Dispatch one job (the function each Ray task runs); torch stays on one thread per task."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    if job.kind == EIGEN:
        result = eigen_job(job.model_path, job.part, train_jets, settings)
    elif job.kind == TRACE:
        result = trace_job(job.model_path, job.part, train_jets, settings)
    elif job.kind == SMEARING:
        result = smearing_job(job.model_path, test_jets, task, settings)
    elif job.kind == GOLDSTONE:
        result = goldstone_job(job.model_path, job.part, train_jets, settings)
    else:
        raise ValueError(f"unknown analysis job kind {job.kind!r}")
    return {"result": result, "seconds": time.perf_counter() - start}


def probe_groups(n_probes: int, per_task: int) -> list[tuple[int, ...]]:
    """Probe indices 0..n−1 cut into groups of ``per_task`` (the last may be shorter)."""
    return [tuple(range(i, min(i + per_task, n_probes))) for i in range(0, n_probes, per_task)]
