"""The analysis stage's settings, and the seeded subset of jets the analyses measure on (docs/methods.md
§6.2–6.5).

:class:`AnalysisSettings` is the whole description of what the analyses measure; each analysis
(:mod:`raysym.stages.analysis_spec`) declares which of its fields are its section, and its key hashes them
all. Jobs are seeded by their own index — a Lanczos restart by its restart number, a group of Hutchinson
probes by their probe indices — so the combined numbers do not depend on how many workers ran them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np
import torch

from raysym.analyses.goldstone import DEFAULT_EPS_MAX, DEFAULT_POINTS, symmetric_grid
from raysym.analyses.smearing_sweep import DEFAULT_SIGMAS, check_sigmas
from raysym.analyses.symmetry import DEFAULT_ANGLE_EDGES, DEFAULT_BETA_EDGES, check_edges
from raysym.batch import JetBatch
from raysym.data.jetset import TaskJets
from raysym.errors import ConfigError, positive_int
from raysym.hessian import evaluation_subset

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
    trace_rel_stderr: float | None = None
    trace_max_probes: int = 1000
    #: "deflated-hutchinson": deflate by at most this many Ritz vectors (largest |θ|) of the best λ1 restart —
    #: all of them when the run took fewer steps, as it usually does (8 on the quick teachers).
    deflation_rank: int = 32
    #: Learned symmetry (:mod:`raysym.analyses.symmetry`): |σ(f(x)) − σ(f(Λx))| on ``symmetry_jets`` test jets,
    #: ``symmetry_transforms`` random boosts (rotations) per jet in each bin of |β| (of the angle), and the
    #: dual model's symmetry factor in ``symmetry_factor_bins`` bins.
    symmetry: bool = True
    symmetry_jets: int = 500
    symmetry_transforms: int = 2
    symmetry_beta_edges: tuple[float, ...] = DEFAULT_BETA_EDGES
    symmetry_angle_edges: tuple[float, ...] = DEFAULT_ANGLE_EDGES
    symmetry_factor_bins: int = 20
    symmetry_seed: int = 0
    #: Settings of the analyses that declare their own (``AnalysisSpec.Options``): analysis name -> its
    #: fields' values; the rest keep their defaults. Checked against each analysis's declaration when the
    #: study is checked (raysym.stages.analysis_spec.check_options).
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    #: The fields no analysis's key holds, because they change no number: how many CPUs a job holds, and
    #: the switches that say whether an analysis runs (not what it computes). Every other field belongs to
    #: the section of at least one analysis, and a test walks them all.
    KEY_EXCLUDED: ClassVar[frozenset[str]] = frozenset({"cpus_per_task", "hessian", "goldstone", "smearing",
                                                        "spectrum", "symmetry"})

    def __post_init__(self) -> None:
        if not isinstance(self.options, Mapping) or not all(isinstance(v, Mapping) for v in self.options.values()):
            raise ConfigError(f"analyses: options must map an analysis name to its settings, got {self.options!r}")
        object.__setattr__(self, "options", {str(name): dict(values) for name, values in self.options.items()})
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


def subset(jets: TaskJets, n_jets: int, seed: int) -> JetBatch:
    """A fixed, seeded subset of the jets as a batch — the same jets for every model (nested in n)."""
    index = evaluation_subset(len(jets), min(n_jets, len(jets)), seed).numpy()
    return JetBatch(*(torch.from_numpy(np.ascontiguousarray(getattr(jets, k)[index])) for k in ("p4", "mask", "y")))
