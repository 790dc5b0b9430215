"""The learned symmetry, as an analysis (docs/methods.md §6.5; :mod:`raysym.analyses.symmetry`).

|σ(f(x)) − σ(f(Λx))| on a seeded subset of the training task's test jets, per bin of boost speed and of
rotation angle, and for a dual-subnet model the distribution of its learned symmetry factor; for every
analysed model.
"""

from __future__ import annotations

from raysym.analyses.symmetry import symmetry_factor, symmetry_violation
from raysym.stages.analysis_settings import subset
from raysym.stages.analysis_spec import Inputs, PerModelAnalysis, register_analysis
from raysym.training.checkpoint import load_best_model

#: A symmetry transformation of one jet (a float64 forward pass) in jet-HVPs: 0.43 ms against 1.07 ms for
#: a jet-HVP of a trace probe group, measured on a quick-study teacher (36,000 transformed jets in 15.6 s).
SYMMETRY_PER_TRANSFORM_JET = 0.4


class SymmetryAnalysis(PerModelAnalysis):
    """Symmetry violation per boost speed and rotation angle (table ``symmetry``)."""

    name = table = "symmetry"
    switch = "symmetry"
    fields = ("symmetry_jets", "symmetry_transforms", "symmetry_beta_edges", "symmetry_angle_edges",
              "symmetry_factor_bins", "symmetry_seed")

    def measure(self, model_path: str, inputs: Inputs) -> list[dict]:
        settings = inputs.settings
        model, config, _ = load_best_model(model_path)
        jets = subset(inputs.test_jets.for_task(inputs.task), settings.symmetry_jets, settings.symmetry_seed)
        rows = symmetry_violation(model, jets.p4, jets.mask, beta_edges=settings.symmetry_beta_edges,
                                  angle_edges=settings.symmetry_angle_edges,
                                  transforms_per_jet=settings.symmetry_transforms, seed=settings.symmetry_seed)
        if config.model == "dual":
            rows += symmetry_factor(model, jets.p4, jets.mask, bins=settings.symmetry_factor_bins)
        return rows

    def model_cost(self, settings, n_test_jets: int) -> float:
        bins = len(settings.symmetry_beta_edges) + len(settings.symmetry_angle_edges) - 2
        return SYMMETRY_PER_TRANSFORM_JET * bins * settings.symmetry_transforms * min(settings.symmetry_jets,
                                                                                       n_test_jets)


SYMMETRY = register_analysis(SymmetryAnalysis())
