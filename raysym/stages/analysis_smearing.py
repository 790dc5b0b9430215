"""The pT smearing sweep, as an analysis (docs/methods.md §6.4; Glowacki eq. 7): ROC-AUC and accuracy of
the training task's test jets against the smearing width σ, with fixed noise seeds, for every analysed
model."""

from __future__ import annotations

from raysym.analyses.smearing_sweep import smearing_sweep
from raysym.stages.analysis_spec import Inputs, PerModelAnalysis, register_analysis
from raysym.training.checkpoint import load_best_model

#: A smearing point of one jet in jet-HVPs, measured on the quick study's teachers
#: (bench/results/analysis_fanout.md).
SMEARING_PER_SIGMA_JET = 0.11


class SmearingAnalysis(PerModelAnalysis):
    """ROC-AUC against pT smearing (table ``smearing``)."""

    name = table = "smearing"
    switch = "smearing"
    fields = ("smearing_sigmas", "smearing_seed")

    def measure(self, model_path: str, inputs: Inputs) -> list[dict]:
        model, _, _ = load_best_model(model_path)
        settings = inputs.settings
        return smearing_sweep(model, inputs.test_jets.for_task(inputs.task), settings.smearing_sigmas,
                              seed=settings.smearing_seed)

    def model_cost(self, settings, n_test_jets: int) -> float:
        return SMEARING_PER_SIGMA_JET * len(settings.smearing_sigmas) * n_test_jets


SMEARING = register_analysis(SmearingAnalysis())
