"""The pseudo-Goldstone scan along ν1, as an analysis (docs/methods.md §6.3; Glowacki eqs. 5–6).

Loss and R(ε) along the Hessian's top eigenvector ν1 and along a random control direction, on a fixed,
seeded set of training jets, for best models only. It waits for ν1 from the Hessian analysis, so its key
includes the Hessian's.
"""

from __future__ import annotations

from typing import Any

from raysym.analyses.goldstone import goldstone_scan, symmetric_grid
from raysym.artifacts import load_torch
from raysym.stages.analysis_hessian import NU1
from raysym.stages.analysis_settings import subset
from raysym.stages.analysis_spec import Inputs, Job, PerModelAnalysis, Slot, Step, register_analysis
from raysym.training.checkpoint import load_best_model

#: A Goldstone point of one jet (the loss and R(ε) along one direction, boosts included) in jet-HVPs, measured
#: on the quick study's teachers (bench/results/analysis_fanout.md).
GOLDSTONE_PER_POINT_JET = 0.35


def goldstone_job(model_path: str, nu1_path: str, inputs: Inputs) -> list[dict]:
    """Loss and R(ε) along ν1 and a random control direction on a fixed set of training jets."""
    settings = inputs.settings
    model, _, _ = load_best_model(model_path)
    nu1 = load_torch(nu1_path, "ν1 vector")
    jets = subset(inputs.train_jets, settings.goldstone_jets, settings.hessian_seed)
    grid = symmetric_grid(settings.goldstone_eps_max, settings.goldstone_points)
    return goldstone_scan(model, nu1, jets, grid, boost_seed=settings.hessian_seed,
                          control_seed=settings.hessian_seed)


class GoldstoneAnalysis(PerModelAnalysis):
    """The scan along ν1 and its control (table ``goldstone``)."""

    name = table = "goldstone"
    switch = "goldstone"
    fields = ("goldstone_eps_max", "goldstone_points", "goldstone_jets")
    after = ("hessian",)
    best_only = True

    def enabled(self, settings) -> bool:
        return settings.hessian and settings.goldstone

    def needs(self, settings) -> tuple[str, ...]:
        return (NU1,)

    def start(self, slot: Slot) -> Step:
        return Step()  # the scan starts when ν1 arrives

    def given(self, slot: Slot, product: str, value: Any) -> Step:
        return Step(jobs=[slot.job(self.name, needs=value)])

    def run(self, job: Job, inputs: Inputs) -> Any:
        return goldstone_job(job.model_path, job.needs, inputs)

    def model_cost(self, settings, n_test_jets: int) -> float:
        return GOLDSTONE_PER_POINT_JET * 2 * settings.goldstone_points * settings.goldstone_jets


GOLDSTONE = register_analysis(GoldstoneAnalysis())
