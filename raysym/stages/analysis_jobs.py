"""The units of work of the analysis stage and the settings that define them (docs/methods.md §6.2–6.4).

Each job is a plain function of (model file, jets, settings), small enough to be one Ray task, and is
seeded by its own index — a Lanczos restart by its restart number, a group of Hutchinson probes by their
probe indices — so the combined numbers do not depend on how many workers ran them. Nothing here knows
about Ray or the store. :class:`AnalysisSettings` is the whole description of the jobs; its keys
(``hessian_key`` …) identify their results in the store.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from raysym.analyses.goldstone import DEFAULT_EPS_MAX, DEFAULT_POINTS, goldstone_scan, symmetric_grid
from raysym.analyses.smearing_sweep import DEFAULT_SIGMAS, check_sigmas, smearing_sweep
from raysym.analyses.symmetry import (
    DEFAULT_ANGLE_EDGES,
    DEFAULT_BETA_EDGES,
    check_edges,
    symmetry_factor,
    symmetry_violation,
)
from raysym.artifacts import load_torch
from raysym.batch import JetBatch
from raysym.data.jetset import JetSet, TaskJets
from raysym.errors import ConfigError, positive_int
from raysym.hessian import (
    evaluation_subset,
    hutch_plus_plus,
    hutchinson_samples,
    lanczos_top_eigenpairs,
    slq_probe,
    training_loss_closure,
)
from raysym.hessian.deflation import Deflation, deflation_from_lanczos
from raysym.hessian.precision import trace_to_precision
from raysym.hessian.xtrace import xtrace
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues, pyhessian_trace
from raysym.settings_key import added_later, changed_later, settings_key
from raysym.training.checkpoint import load_best_model

HESSIAN_BACKENDS = ("lanczos", "pyhessian")
#: Tr(H) estimators (docs/methods.md §6.2). Hutchinson's probes, deflated or not, fan out over tasks in
#: groups; Hutch++ and XTrace run whole in one task.
TRACE_METHODS = ("hutchinson", "deflated-hutchinson", "hutch++", "xtrace")
WHOLE_TRACE_METHODS = ("hutch++", "xtrace")


@dataclass(frozen=True)
class AnalysisSettings:
    """What the analysis stage measures on every best model, beyond test-set performance.

    Hessian of the training loss (BCE) on a fixed, seeded set of ``hessian_jets`` training jets: top-k
    eigenpairs by Lanczos (``eigen_restarts`` independent starts, the largest λ1 kept) or by PyHessian's
    power iteration (``hessian_backend="pyhessian"``), and Tr(H) by Hutchinson with ``trace_probes``
    Rademacher probes, ``probes_per_task`` per Ray task. Then the pseudo-Goldstone scan along ν1 and the
    pT smearing sweep. Every job holds ``cpus_per_task`` CPUs (and as many torch threads). The trace is
    Hutchinson's deflated by the Lanczos Ritz vectors unless ``trace_method`` says otherwise, with
    ``trace_probes`` probes, or as many as ``trace_rel_stderr`` needs (up to ``trace_max_probes``).
    """

    hessian: bool = True
    hessian_backend: str = "lanczos"
    hessian_jets: int = 512
    hessian_batch_size: int = 256
    hessian_seed: int = 0
    top_k: int = 1
    lanczos_steps: int = 30
    eigen_restarts: int = 1
    trace_probes: int = 32
    probes_per_task: int = 8
    #: "deflated-hutchinson" (default): Hutchinson's probes on H without the span of the best λ1 Lanczos
    #: restart's Ritz vectors, whose trace Σθ is added exactly — no extra HVP, and the fewest probes to a
    #: given error on our models (bench/results/trace_precision.md); "hutchinson", the paper's estimator;
    #: "hutch++" (Meyer et al. 2021) and "xtrace" (Epperly, Tropp & Webber 2024), ``trace_probes`` HVPs in
    #: one task.
    trace_method: str = "deflated-hutchinson"
    goldstone: bool = True
    goldstone_eps_max: float = DEFAULT_EPS_MAX
    goldstone_points: int = DEFAULT_POINTS
    goldstone_jets: int = 512
    smearing: bool = True
    smearing_sigmas: tuple[float, ...] = DEFAULT_SIGMAS
    smearing_seed: int = 0
    #: The eigenvalue density by stochastic Lanczos quadrature: with ``spectrum_probes`` = 0 the λ1 Lanczos
    #: runs themselves are its probes (one per restart, no extra HVP, as many nodes as those runs took
    #: steps); otherwise that many extra probes of ``spectrum_steps`` steps each, one task per probe.
    spectrum: bool = True
    spectrum_probes: int = 0
    spectrum_steps: int = 80
    spectrum_points: int = 200
    cpus_per_task: float = 1.0
    #: Keep adding rounds of Hutchinson probe groups until the trace's standard error is at most this
    #: fraction of |Tr(H)| (None: exactly ``trace_probes`` probes), or ``trace_max_probes`` is reached; the
    #: ``hessian`` table's ``trace_stop`` says which ("precision", "cap"; "fixed" without a target).
    trace_rel_stderr: float | None = added_later(None)
    trace_max_probes: int = added_later(1000)
    #: "deflated-hutchinson": deflate by at most this many Ritz vectors (largest |θ|) of the best λ1 restart —
    #: all of them when the run took fewer steps, as it usually does (8 on the quick teachers).
    deflation_rank: int = added_later(32)
    #: Learned symmetry (:mod:`raysym.analyses.symmetry`): |σ(f(x)) − σ(f(Λx))| on ``symmetry_jets`` test jets,
    #: ``symmetry_transforms`` random boosts (rotations) per jet in each bin of |β| (of the angle), and the
    #: dual model's symmetry factor in ``symmetry_factor_bins`` bins.
    symmetry: bool = added_later(True)
    symmetry_jets: int = added_later(500)
    symmetry_transforms: int = added_later(2)
    symmetry_beta_edges: tuple[float, ...] = added_later(DEFAULT_BETA_EDGES)
    symmetry_angle_edges: tuple[float, ...] = added_later(DEFAULT_ANGLE_EDGES)
    symmetry_factor_bins: int = added_later(20)
    symmetry_seed: int = added_later(0)

    def __post_init__(self) -> None:
        if self.hessian_backend not in HESSIAN_BACKENDS:
            raise ConfigError(f"analyses: hessian backend must be one of {', '.join(HESSIAN_BACKENDS)}, "
                              f"got {self.hessian_backend!r}")
        for name in ("hessian_jets", "hessian_batch_size", "top_k", "lanczos_steps", "eigen_restarts", "trace_probes",
                     "probes_per_task", "goldstone_jets", "spectrum_steps", "spectrum_points"):
            positive_int(f"analyses: {name}", getattr(self, name))
        if self.trace_method not in TRACE_METHODS:
            raise ConfigError(f"analyses: trace method must be one of {', '.join(TRACE_METHODS)}, "
                              f"got {self.trace_method!r}")
        if self.trace_method == "hutch++" and self.trace_probes < 3:
            raise ConfigError("analyses: hutch++ needs a budget of trace_probes >= 3 HVPs")
        if self.trace_method == "xtrace" and self.trace_probes < 4:
            raise ConfigError("analyses: xtrace needs a budget of trace_probes >= 4 HVPs")
        if self.hessian_backend == "pyhessian" and self.trace_method == "deflated-hutchinson":
            # PyHessian computes its own plain Hutchinson trace: the default method means that there.
            object.__setattr__(self, "trace_method", "hutchinson")
        if self.trace_method != "hutchinson" and self.hessian_backend != "lanczos":
            raise ConfigError(f"analyses: trace method {self.trace_method!r} needs the lanczos backend "
                              "(the pyhessian backend computes PyHessian's own Hutchinson trace)")
        positive_int("analyses: deflation_rank", self.deflation_rank)
        if self.trace_probes < 2:
            raise ConfigError("analyses: a trace with a standard error needs trace_probes >= 2")
        if isinstance(self.spectrum_probes, bool) or not isinstance(self.spectrum_probes, int) \
                or self.spectrum_probes < 0:
            raise ConfigError(f"analyses: spectrum_probes must be an integer >= 0, got {self.spectrum_probes!r}")
        if self.spectrum and self.spectrum_probes == 0 and self.hessian_backend != "lanczos":
            raise ConfigError("analyses: the spectrum from the λ1 runs needs the lanczos backend; "
                              "set spectrum_probes > 0 for separate SLQ probes")
        if self.top_k > self.lanczos_steps:
            raise ConfigError(f"analyses: top_k {self.top_k} needs at least as many Lanczos steps")
        try:
            symmetric_grid(self.goldstone_eps_max, self.goldstone_points)
            sigmas = check_sigmas(self.smearing_sigmas)
        except ConfigError as err:
            raise ConfigError(f"analyses: {err}") from None
        object.__setattr__(self, "smearing_sigmas", sigmas)
        if self.trace_rel_stderr is not None and not 0 < self.trace_rel_stderr < 1:
            raise ConfigError(f"analyses: trace_rel_stderr must be a fraction in (0, 1), e.g. 0.05, "
                              f"got {self.trace_rel_stderr!r}")
        positive_int("analyses: trace_max_probes", self.trace_max_probes)
        if self.trace_max_probes < self.trace_probes:
            raise ConfigError(f"analyses: trace_max_probes {self.trace_max_probes} is below the first round's "
                              f"{self.trace_probes} trace_probes")
        if not (self.cpus_per_task > 0 and math.isfinite(self.cpus_per_task)):
            raise ConfigError(f"analyses: cpus per task must be > 0, got {self.cpus_per_task}")
        for name in ("symmetry_jets", "symmetry_transforms", "symmetry_factor_bins"):
            positive_int(f"analyses: {name}", getattr(self, name))
        try:
            object.__setattr__(self, "symmetry_beta_edges", check_edges(self.symmetry_beta_edges, 1.0,
                                                                        "boost speed β"))
            object.__setattr__(self, "symmetry_angle_edges", check_edges(self.symmetry_angle_edges, math.pi,
                                                                         "rotation angle"))
        except ConfigError as err:
            raise ConfigError(f"analyses: {err}") from None

    def hessian_key(self) -> str:
        """A short hash of every setting that changes the Hessian numbers (rerun skipping).

        ``probes_per_task`` is in it when a trace precision is asked for: the rounds of probes are cut in
        groups of that size (:func:`next_probe_round`), so it decides how many probes Tr(H) gets. With a
        fixed number of probes it only groups probes that are seeded by their index, and changes no number.
        """
        adaptive = (("probes_per_task", self.probes_per_task),) if self.trace_rel_stderr is not None else ()
        return settings_key(self.hessian_backend, self.hessian_jets, self.hessian_batch_size, self.hessian_seed,
                            self.top_k, self.lanczos_steps, self.eigen_restarts, self.trace_probes,
                            self.trace_method, *changed_later(self, "trace_rel_stderr", "trace_max_probes", "deflation_rank"),
                            *adaptive)

    def goldstone_key(self) -> str:
        return settings_key(self.hessian_key(), self.goldstone_eps_max, self.goldstone_points, self.goldstone_jets)

    def smearing_key(self) -> str:
        return settings_key(tuple(float(s) for s in self.smearing_sigmas), self.smearing_seed)

    def symmetry_key(self) -> str:
        return settings_key("symmetry", self.symmetry_jets, self.symmetry_transforms, self.symmetry_beta_edges,
                            self.symmetry_angle_edges, self.symmetry_factor_bins, self.symmetry_seed)

    def spectrum_key(self) -> str:
        return settings_key(self.hessian_key(), self.spectrum_probes, self.spectrum_steps, self.spectrum_points)


EIGEN, TRACE, SMEARING, GOLDSTONE, SPECTRUM = "eigen", "trace", "smearing", "goldstone", "spectrum"
SYMMETRY = "symmetry"


@dataclass(frozen=True)
class Job:
    """One task: ``kind`` of analysis on the model ``model_id`` (a trial's best model, or one of its kept
    epochs: :mod:`raysym.stages.checkpoints`) in ``model_path``; ``part`` is the restart number
    (eigen), the probe indices (trace) or the probe number (spectrum); ``needs`` the file of an earlier
    job's result it reads (ν1 for a Goldstone scan, the deflation of a deflated trace)."""

    model_id: str
    model_path: str
    kind: str
    part: Any = None
    needs: str | None = None

    def __str__(self) -> str:
        part = "" if self.part is None else f" {self.part}"
        return f"{self.kind}{part} of model {self.model_id}"


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
    deflated = settings.trace_method == "deflated-hutchinson"
    result = lanczos_top_eigenpairs(closure, k=settings.top_k, max_iter=settings.lanczos_steps, seed=restart,
                                    keep_ritz=settings.deflation_rank if deflated else 0)
    nodes, weights = result.quadrature
    out = {"eigenvalues": [float(v) for v in result.eigenvalues], "nu1": result.eigenvectors[0].float(),
           "n_hvp": result.n_hvp, "seconds": result.seconds, "restart": restart,
           "quadrature": (nodes.tolist(), weights.tolist()), "n_params": closure.n_params}
    if deflated:
        deflation = deflation_from_lanczos(result)
        out["deflation"] = {"vectors": deflation.vectors.float(), "exact": deflation.exact}
    return out


def spectrum_job(model_path: str, probe: int, train_jets: TaskJets, settings: AnalysisSettings) -> dict[str, Any]:
    """One stochastic-Lanczos-quadrature probe of the Hessian's eigenvalue density."""
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, train_jets, settings)
    nodes, weights = slq_probe(closure, probe, settings.spectrum_steps, seed=settings.hessian_seed)
    return {"quadrature": (nodes.tolist(), weights.tolist()), "n_hvp": len(nodes), "n_params": closure.n_params}


def trace_job(model_path: str, probes: tuple[int, ...], train_jets: TaskJets, settings: AnalysisSettings,
              deflation_path: str | None = None):
    """vᵀHv for the given Rademacher probe indices (``HutchinsonSamples``; off the deflation's span when a
    deflation file is given), or a whole trace estimate (Hutch++, XTrace — to ``trace_rel_stderr`` when it
    is set —, or PyHessian's Hutchinson) when the method cannot be split over tasks."""
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, train_jets, settings)
    seed = settings.hessian_seed
    if settings.hessian_backend == "pyhessian":
        return pyhessian_trace(model, closure.batches, n_probes=settings.trace_probes, seed=seed)
    if settings.trace_method in WHOLE_TRACE_METHODS:
        if settings.trace_rel_stderr is not None:
            return trace_to_precision(closure, settings.trace_method, settings.trace_rel_stderr,
                                      group_size=settings.trace_probes, max_probes=settings.trace_max_probes, seed=seed)
        run = hutch_plus_plus if settings.trace_method == "hutch++" else xtrace
        return run(closure, n_hvp=settings.trace_probes, seed=seed)
    deflation = None
    if deflation_path is not None:
        deflation = Deflation(**load_torch(deflation_path, "deflation"))
    return hutchinson_samples(closure, probes, seed=seed, deflation=deflation)


def smearing_job(model_path: str, test_jets: JetSet, task: str, settings: AnalysisSettings) -> list[dict]:
    """ROC-AUC and accuracy versus σ on the test jets of ``task`` (fixed noise seeds)."""
    model, _, _ = load_best_model(model_path)
    return smearing_sweep(model, test_jets.for_task(task), settings.smearing_sigmas, seed=settings.smearing_seed)


def goldstone_job(model_path: str, nu1_path: str, train_jets: TaskJets, settings: AnalysisSettings) -> list[dict]:
    """Loss and R(ε) along ν1 and a random control direction on a fixed set of training jets."""
    model, _, _ = load_best_model(model_path)
    nu1 = load_torch(nu1_path, "ν1 vector")
    jets = subset(train_jets, settings.goldstone_jets, settings.hessian_seed)
    grid = symmetric_grid(settings.goldstone_eps_max, settings.goldstone_points)
    return goldstone_scan(model, nu1, jets, grid, boost_seed=settings.hessian_seed,
                          control_seed=settings.hessian_seed)


def symmetry_job(model_path: str, test_jets: JetSet, task: str, settings: AnalysisSettings) -> list[dict]:
    """Symmetry violation per bin of boost speed and rotation angle on a seeded subset of the test jets of
    ``task``, and for a dual-subnet model the distribution of its learned symmetry factor."""
    model, config, _ = load_best_model(model_path)
    jets = subset(test_jets.for_task(task), settings.symmetry_jets, settings.symmetry_seed)
    p4, mask = jets.p4, jets.mask
    rows = symmetry_violation(model, p4, mask, beta_edges=settings.symmetry_beta_edges,
                              angle_edges=settings.symmetry_angle_edges,
                              transforms_per_jet=settings.symmetry_transforms, seed=settings.symmetry_seed)
    if config.model == "dual":
        rows += symmetry_factor(model, p4, mask, bins=settings.symmetry_factor_bins)
    return rows


def run_job(job: Job, train_jets: TaskJets, test_jets: JetSet, task: str, settings: AnalysisSettings):
    """Dispatch one job: the function each fan-out task runs. The outcome also says when (wall clock) and
    in which process it ran, so a benchmark can see how busy each worker was."""
    started, start = time.time(), time.perf_counter()
    if job.kind == EIGEN:
        result = eigen_job(job.model_path, job.part, train_jets, settings)
    elif job.kind == TRACE:
        result = trace_job(job.model_path, job.part, train_jets, settings, job.needs)
    elif job.kind == SMEARING:
        result = smearing_job(job.model_path, test_jets, task, settings)
    elif job.kind == GOLDSTONE:
        result = goldstone_job(job.model_path, job.needs, train_jets, settings)
    elif job.kind == SPECTRUM:
        result = spectrum_job(job.model_path, job.part, train_jets, settings)
    elif job.kind == SYMMETRY:
        result = symmetry_job(job.model_path, test_jets, task, settings)
    else:
        raise ConfigError(f"unknown analysis job kind {job.kind!r}")
    return {"result": result, "seconds": time.perf_counter() - start, "started": started, "worker": os.getpid()}


def probe_groups(n_probes: int, per_task: int) -> list[tuple[int, ...]]:
    """Probe indices 0..n−1 cut into groups of ``per_task`` (the last may be shorter)."""
    return [tuple(range(i, min(i + per_task, n_probes))) for i in range(0, n_probes, per_task)]


def next_probe_round(estimate, settings: AnalysisSettings) -> list[tuple[int, ...]]:
    """The probe groups of the next round, when the trace's relative standard error is above
    ``settings.trace_rel_stderr``: as many more probes as the error's 1/√m fall projects are needed (at
    least one group), up to ``trace_max_probes`` in all. A function of the estimate alone, so the rounds,
    and so the result, do not depend on the order the groups finished in."""
    m, target = estimate.n_probes, settings.trace_rel_stderr
    ratio = abs(estimate.standard_error) / max(abs(estimate.trace), 1e-300)
    wanted = math.ceil(m * (ratio / target) ** 2) if math.isfinite(ratio) else 2 * m
    total = min(settings.trace_max_probes, max(wanted, m + settings.probes_per_task))
    return [tuple(range(i, min(i + settings.probes_per_task, total))) for i in range(m, total, settings.probes_per_task)]


#: Costs of the scans and sweeps per jet and point, in jet-HVPs (one Hessian-vector product of one jet),
#: measured on the quick study's teachers (bench/results/analysis_fanout.md): a Goldstone point of one jet
#: (the loss and R(ε) along one direction, boosts included) costs about a third of an HVP, a smearing point a
#: tenth.
GOLDSTONE_PER_POINT_JET = 0.35
SMEARING_PER_SIGMA_JET = 0.11
#: A symmetry transformation of one jet (a float64 forward pass) in jet-HVPs: 0.43 ms against 1.07 ms for
#: a jet-HVP of a trace probe group, measured on a quick-study teacher (36,000 transformed jets in 15.6 s).
SYMMETRY_PER_TRANSFORM_JET = 0.4


def job_cost(job: Job, settings: AnalysisSettings, n_test_jets: int) -> float:
    """A job's expected cost in jet-HVPs (a Lanczos run counted at its step limit; it often stops sooner)."""
    if job.kind == EIGEN:
        return settings.lanczos_steps * settings.hessian_jets
    if job.kind == TRACE:
        return (len(job.part) or settings.trace_probes) * settings.hessian_jets
    if job.kind == SPECTRUM:
        return settings.spectrum_steps * settings.hessian_jets
    if job.kind == GOLDSTONE:
        return GOLDSTONE_PER_POINT_JET * 2 * settings.goldstone_points * settings.goldstone_jets
    if job.kind == SMEARING:
        return SMEARING_PER_SIGMA_JET * len(settings.smearing_sigmas) * n_test_jets
    if job.kind == SYMMETRY:
        bins = len(settings.symmetry_beta_edges) + len(settings.symmetry_angle_edges) - 2
        return SYMMETRY_PER_TRANSFORM_JET * bins * settings.symmetry_transforms * min(settings.symmetry_jets,
                                                                                       n_test_jets)
    raise ConfigError(f"unknown analysis job kind {job.kind!r}")


def job_priority(job: Job, settings: AnalysisSettings, n_test_jets: int) -> float:
    """Which job to start first: its own cost plus the cost of the work that waits for it (a Lanczos restart
    unlocks its model's Goldstone scan, and a deflated trace) — the longest remaining path first, so the
    jobs that can only start late do not end up alone on a busy worker at the end. Never changes a result."""
    cost = job_cost(job, settings, n_test_jets)
    if job.kind == EIGEN:
        if settings.goldstone:
            cost += job_cost(Job(job.model_id, job.model_path, GOLDSTONE), settings, n_test_jets)
        if settings.trace_method == "deflated-hutchinson":
            cost += settings.trace_probes * settings.hessian_jets / max(1, settings.probes_per_task)
    return cost
