"""The Hessian of the training loss, as an analysis: top-k eigenpairs and Tr(H) (docs/methods.md §6.2).

A model's measurement is ``eigen_restarts`` seeded Lanczos runs (or PyHessian's power iteration) and the
trace: groups of Hutchinson probes, deflated by the best run's Ritz vectors by default, in rounds until a
precision is met when one is asked for, or Hutch++ / XTrace / PyHessian's trace whole in one job. Its rows
are written once both are in. It provides ν1 (saved beside the model) to the Goldstone scan and its
Lanczos runs to the eigenvalue density; a model whose Hessian rows are stored gets its ν1 back from them
without a job.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from raysym.artifacts import load_torch, save_torch, sibling
from raysym.data.jetset import TaskJets
from raysym.hessian import combine, hutch_plus_plus, hutchinson_samples, lanczos_top_eigenpairs, training_loss_closure
from raysym.hessian.deflation import Deflation, deflation_from_lanczos
from raysym.hessian.precision import precision_reached, trace_to_precision
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues, pyhessian_trace
from raysym.hessian.results import TraceEstimate
from raysym.hessian.xtrace import xtrace
from raysym.stages.analysis_settings import WHOLE_TRACE_METHODS, AnalysisSettings, subset
from raysym.stages.analysis_spec import (AnalysisSpec, Inputs, Job, Slot, Step, analysis, register_analysis,
                                        registered)
from raysym.training.checkpoint import load_best_model

EIGEN, TRACE = "eigen", "trace"
#: Products: the path of ν1's file, and the finished Lanczos runs (their quadratures are SLQ probes).
NU1, LANCZOS = "nu1", "lanczos"


def hessian_closure(model: torch.nn.Module, train_jets: TaskJets, settings: AnalysisSettings):
    """The training loss (BCE) on the fixed Hessian evaluation set, in batches that accumulate exactly."""
    batch = subset(train_jets, settings.hessian_jets, settings.hessian_seed)
    return training_loss_closure(model, batch.p4, batch.mask, batch.y, batch_size=settings.hessian_batch_size,
                                 n_jets=None, seed=settings.hessian_seed)


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


def eigen_job(model_path: str, restart: int, inputs: Inputs) -> dict[str, Any]:
    """Top-k eigenpairs from one seeded start (Lanczos) or PyHessian's power iteration (restart 0 only)."""
    settings = inputs.settings
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, inputs.train_jets, settings)
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


def trace_job(model_path: str, probes: tuple[int, ...], inputs: Inputs, deflation_path: str | None = None):
    """vᵀHv for the given Rademacher probe indices (``HutchinsonSamples``; off the deflation's span when a
    deflation file is given), or a whole trace estimate (Hutch++, XTrace — to ``trace_rel_stderr`` when it
    is set —, or PyHessian's Hutchinson) when the method cannot be split over tasks."""
    settings = inputs.settings
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, inputs.train_jets, settings)
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


def best_restart(eigen: list[dict]) -> dict:
    """The restart with the largest λ1 (ties: the lowest restart number), whatever order they finished in."""
    return max(sorted(eigen, key=lambda r: r["result"]["restart"]), key=lambda r: r["result"]["eigenvalues"][0])


class HessianAnalysis(AnalysisSpec):
    """λ1..λk and Tr(H) of the training loss (table ``hessian``)."""

    name = table = "hessian"
    switch = "hessian"
    fields = ("hessian_backend", "hessian_jets", "hessian_batch_size", "hessian_seed", "top_k", "lanczos_steps",
              "eigen_restarts", "trace_probes", "probes_per_task", "trace_method", "trace_rel_stderr",
              "trace_max_probes", "deflation_rank")
    provides = (NU1, LANCZOS)

    # -- starting ---------------------------------------------------------------------------------------

    def start(self, slot: Slot) -> Step:
        """Measuring: the eigen restarts and, unless it waits for their deflation, the first trace round.
        Supplying only: ν1 from the stored rows where it can, otherwise the eigen restarts alone."""
        s, state = slot.settings, slot.state
        state.update(eigen=[], traces=[], outstanding=0, stop=None, nu1=None, deflation=None)
        if not slot.measure and slot.supply == {NU1}:
            stored = _stored_nu1(slot)
            if stored is not None:
                return Step(products={NU1: stored})
        state["restarts"] = 1 if s.hessian_backend == "pyhessian" else s.eigen_restarts
        step = Step(jobs=[slot.job(EIGEN, r) for r in range(state["restarts"])])
        if slot.measure and s.trace_method != "deflated-hutchinson":
            step.jobs += self._trace_round(slot, first=True)
        return step

    def _trace_round(self, slot: Slot, first: bool = False) -> list[Job]:
        """The next round of trace jobs: the whole estimate as one job (Hutch++, XTrace, PyHessian), or
        groups of Hutchinson probes — the fixed count, or as many more as a precision target projects."""
        s, state = slot.settings, slot.state
        if s.hessian_backend == "pyhessian" or s.trace_method in WHOLE_TRACE_METHODS:
            groups = [()] if first else []
        elif first:
            groups = probe_groups(s.trace_probes, s.probes_per_task)
        else:
            groups = next_probe_round(_trace(state), s)
        jobs = [slot.job(TRACE, g, needs=state["deflation"]) for g in groups]
        state["outstanding"] += len(jobs)
        return jobs

    # -- results ----------------------------------------------------------------------------------------

    def receive(self, slot: Slot, job: Job, outcome: dict) -> Step:
        state = slot.state
        if job.kind == EIGEN:
            state["eigen"].append(outcome)
            if len(state["eigen"]) < state["restarts"]:
                return Step()
            step = self._eigen_complete(slot)
        else:
            state["traces"].append(outcome)
            state["outstanding"] -= 1
            step = Step() if state["outstanding"] else self._trace_round_complete(slot)
        if step.rows is None:
            step.rows = self._rows_if_complete(slot)
        return step

    def _eigen_complete(self, slot: Slot) -> Step:
        """All restarts in: ν1 of the best restart is saved and handed on, the Lanczos runs too, and a
        deflated trace can start."""
        s, state, step = slot.settings, slot.state, Step()
        best = best_restart(state["eigen"])["result"]
        key = self.key(s)
        if slot.measure or NU1 in slot.supply:
            state["nu1"] = save_torch(best["nu1"], sibling(slot.model_path, f"{slot.model_id}.nu1-{key}.pt"))
            step.products[NU1] = state["nu1"]
        if LANCZOS in slot.supply:
            step.products[LANCZOS] = sorted(state["eigen"], key=lambda r: r["result"]["restart"])
        if slot.measure and s.trace_method == "deflated-hutchinson":
            state["deflation"] = save_torch(best["deflation"], sibling(
                slot.model_path, f"{slot.model_id}.deflation-{key}.pt"))
            step.jobs += self._trace_round(slot, first=True)
        return step

    def _trace_round_complete(self, slot: Slot) -> Step:
        s, state = slot.settings, slot.state
        first = state["traces"][0]["result"]
        if s.trace_rel_stderr is None or isinstance(first, TraceEstimate):
            state["stop"] = "fixed" if s.trace_rel_stderr is None else first.extra.get("stop")
            return Step()
        estimate = _trace(state)
        if precision_reached(estimate, s.trace_rel_stderr):
            state["stop"] = "precision"
        elif estimate.n_probes >= s.trace_max_probes:
            state["stop"] = "cap"
        else:
            return Step(jobs=self._trace_round(slot))
        return Step()

    def _rows_if_complete(self, slot: Slot) -> list[dict] | None:
        """The model's rows once both its eigen restarts and its trace are complete."""
        s, state = slot.settings, slot.state
        if not slot.measure or state["stop"] is None or len(state["eigen"]) < state["restarts"]:
            return None
        trace = _trace(state)
        eigen_hvp = sum(r["result"]["n_hvp"] for r in state["eigen"])
        seconds = sum(r["seconds"] for r in state["eigen"]) + sum(t["seconds"] for t in state["traces"])
        return [{"k": k + 1, "eigenvalue": value, "trace": trace.trace, "trace_stderr": trace.standard_error,
                 "n_probes": trace.n_probes, "n_hvp": eigen_hvp + trace.n_hvp, "eigen_hvp": eigen_hvp,
                 "trace_hvp": trace.n_hvp, "seconds": seconds, "backend": s.hessian_backend,
                 "eval_set_size": slot.eval_size, "restarts": len(state["eigen"]), "trace_method": trace.method,
                 "trace_stop": state["stop"], "nu1_path": state["nu1"]}
                for k, value in enumerate(best_restart(state["eigen"])["result"]["eigenvalues"])]

    # -- jobs -------------------------------------------------------------------------------------------

    def run(self, job: Job, inputs: Inputs) -> Any:
        if job.kind == EIGEN:
            return eigen_job(job.model_path, job.part, inputs)
        return trace_job(job.model_path, job.part, inputs, job.needs)

    def cost(self, job: Job, settings, n_test_jets: int) -> float:
        """A Lanczos run counted at its step limit (it often stops sooner); a probe group by its probes."""
        if job.kind == EIGEN:
            return settings.lanczos_steps * settings.hessian_jets
        return (len(job.part) or settings.trace_probes) * settings.hessian_jets

    def unlocks(self, job: Job, settings, n_test_jets: int) -> float:
        """A restart unlocks its model's Goldstone scan and a deflated trace."""
        if job.kind != EIGEN:
            return 0.0
        waiting = sum(spec.model_cost(settings, n_test_jets) for spec in _consumers(settings, NU1))
        if settings.trace_method == "deflated-hutchinson":
            waiting += settings.trace_probes * settings.hessian_jets / max(1, settings.probes_per_task)
        return waiting


def _consumers(settings, product: str):
    """The enabled analyses that wait for ``product`` (one job per model each)."""
    return [spec for spec in registered() if spec.enabled(settings) and product in spec.needs(settings)
            and hasattr(spec, "model_cost")]


def _trace(state: dict) -> TraceEstimate:
    first = state["traces"][0]["result"]
    return first if isinstance(first, TraceEstimate) else combine([t["result"] for t in state["traces"]])


def _stored_nu1(slot: Slot) -> str | None:
    """ν1 of this best model from its stored Hessian rows (these settings), or None."""
    if "hessian" not in slot.shared:  # read once per stage run, not once per model
        slot.shared["hessian"] = slot.store.load("hessian")
    hessian = slot.shared["hessian"]
    if hessian.empty:
        return None
    key = analysis("hessian").key(slot.settings)
    rows = hessian[(hessian["settings_key"] == key) & (hessian["trial_id"] == slot.trial["trial_id"])]
    if "best" in rows:
        rows = rows[rows["best"] == True]  # noqa: E712
    return None if rows.empty else rows["nu1_path"].iloc[0]


HESSIAN = register_analysis(HessianAnalysis())
