"""The Hessian's eigenvalue density by stochastic Lanczos quadrature, as an analysis (docs/methods.md §6.2).

With ``spectrum_probes`` = 0 the Hessian analysis's λ1 Lanczos runs are its probes (no extra HVP); otherwise
that many probes of ``spectrum_steps`` steps each, one job per probe. The density is written on a grid of
``spectrum_points`` points, for best models only: it describes where training ended.
"""

from __future__ import annotations

from typing import Any

import torch

from raysym.hessian import DensityResult, slq_probe
from raysym.stages.analysis_hessian import LANCZOS, hessian_closure
from raysym.stages.analysis_spec import AnalysisSpec, Inputs, Job, Slot, Step, register_analysis
from raysym.training.checkpoint import load_best_model

PROBE = "spectrum"


def spectrum_job(model_path: str, probe: int, inputs: Inputs) -> dict[str, Any]:
    """One stochastic-Lanczos-quadrature probe of the Hessian's eigenvalue density."""
    settings = inputs.settings
    model, _, _ = load_best_model(model_path)
    closure = hessian_closure(model, inputs.train_jets, settings)
    nodes, weights = slq_probe(closure, probe, settings.spectrum_steps, seed=settings.hessian_seed)
    return {"quadrature": (nodes.tolist(), weights.tolist()), "n_hvp": len(nodes), "n_params": closure.n_params}


def density_rows(probes: list[dict], settings) -> list[dict]:
    """The SLQ eigenvalue density of one model on a grid, from its probes' quadratures."""
    nodes = [torch.tensor(p["result"]["quadrature"][0], dtype=torch.float64) for p in probes]
    weights = [torch.tensor(p["result"]["quadrature"][1], dtype=torch.float64) for p in probes]
    result = DensityResult(nodes, weights, probes[0]["result"]["n_params"],
                           sum(p["result"]["n_hvp"] for p in probes), sum(p["seconds"] for p in probes),
                           settings.hessian_seed)
    sigma = result.default_sigma()
    grid, density = result.density(result.grid(points=settings.spectrum_points, sigma=sigma), sigma)
    return [{"eigenvalue": float(t), "density": float(d), "sigma": sigma, "n_probes": len(probes),
             "n_nodes": sum(len(n) for n in nodes)} for t, d in zip(grid, density)]


class SpectrumAnalysis(AnalysisSpec):
    """The SLQ eigenvalue density (table ``spectrum``)."""

    name = table = "spectrum"
    switch = "spectrum"
    fields = ("spectrum_probes", "spectrum_steps", "spectrum_points")
    after = ("hessian",)
    best_only = True

    def enabled(self, settings) -> bool:
        return settings.hessian and settings.spectrum

    def needs(self, settings) -> tuple[str, ...]:
        return (LANCZOS,) if settings.spectrum_probes == 0 else ()

    def start(self, slot: Slot) -> Step:
        slot.state["probes"] = []
        return Step(jobs=[slot.job(PROBE, probe) for probe in range(slot.settings.spectrum_probes)])

    def given(self, slot: Slot, product: str, value: Any) -> Step:
        return Step(rows=density_rows(value, slot.settings))

    def receive(self, slot: Slot, job: Job, outcome: dict) -> Step:
        probes = slot.state["probes"]
        probes.append((job.part, outcome))
        if len(probes) < slot.settings.spectrum_probes:
            return Step()
        return Step(rows=density_rows([outcome for _, outcome in sorted(probes, key=lambda p: p[0])],
                                      slot.settings))

    def run(self, job: Job, inputs: Inputs) -> Any:
        return spectrum_job(job.model_path, job.part, inputs)

    def cost(self, job: Job, settings, n_test_jets: int) -> float:
        return settings.spectrum_steps * settings.hessian_jets


SPECTRUM = register_analysis(SpectrumAnalysis())
