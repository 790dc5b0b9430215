"""Stage 2 of a study: analyses of every trained trial, one Ray task per trial, results into the store.

``fanout`` is the shared machinery (one task per trial, results as they finish, SPREAD over the nodes);
``evaluate`` is the first analysis on it (accuracy, ROC-AUC and ROC curves on the test jets of
``g_vs_w``, ``g_vs_z`` and ``g_vs_t``). Curvature, smearing and distillation plug into the same fan-out:
a plain function of one model file, a remote wrapper, and a stage function that writes its tables.
"""

from raysym.stages.evaluate import evaluate_model_file, run_evaluation_stage
from raysym.stages.fanout import fan_out

__all__ = ["evaluate_model_file", "fan_out", "run_evaluation_stage"]
