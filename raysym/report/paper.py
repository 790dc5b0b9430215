"""Glowacki's published numbers (Tables 1–3) and the scale they come from, the reference every report
compares with (docs/methods.md §7).

Mean ± standard deviation over three seeds; the model is trained on gluon vs W; "constrained" is SEAL
with λ = 0.1. Table 2 gives only the ratios constrained / unconstrained of λ1 and Tr(H).
"""

from __future__ import annotations

#: (task, metric) -> {"unconstrained": (mean, std), "constrained": (mean, std), "table": source}.
PERFORMANCE: dict[tuple[str, str], dict] = {
    ("g_vs_w", "accuracy"): {"unconstrained": (0.9424, 0.0024), "constrained": (0.9400, 0.0009), "table": "Table 1"},
    ("g_vs_w", "roc_auc"): {"unconstrained": (0.9875, 0.0005), "constrained": (0.9850, 0.0002), "table": "Table 1"},
    ("g_vs_z", "accuracy"): {"unconstrained": (0.7656, 0.0064), "constrained": (0.7835, 0.0186), "table": "Table 3"},
    ("g_vs_z", "roc_auc"): {"unconstrained": (0.9364, 0.0025), "constrained": (0.9429, 0.0078), "table": "Table 3"},
    ("g_vs_t", "accuracy"): {"unconstrained": (0.5258, 0.0028), "constrained": (0.5407, 0.0003), "table": "Table 3"},
    ("g_vs_t", "roc_auc"): {"unconstrained": (0.4177, 0.0495), "constrained": (0.5323, 0.0124), "table": "Table 3"},
}

#: Table 2: constrained / unconstrained.
CURVATURE_RATIOS: dict[str, float] = {"lambda1": 0.079, "trace": 0.119}

#: Glowacki §3.1–3.5: the scale behind every number above, to set beside a study's own. The jet counts are of
#: all classes of the hls4ml data set; 1,256,356 is the paper's teacher count (raysym's paper preset has
#: 1,255,425, docs/methods.md §4).
SCALE: dict[str, int] = {"train_jets": 200_000, "val_jets": 49_560, "test_jets": 104_704, "epochs": 100,
                         "teacher_parameters": 1_256_356, "student_parameters": 487_665, "seeds": 3}


def roc_auc_difference(task: str) -> float:
    """The paper's constrained − unconstrained mean ROC-AUC on ``task`` (Tables 1 and 3): the effect its
    finding claims, for the verdicts to compare with (docs/methods.md §8)."""
    row = PERFORMANCE[(task, "roc_auc")]
    return row["constrained"][0] - row["unconstrained"][0]


#: How the report recognises the paper's two models among a study's biases.
UNCONSTRAINED = {"model": "teacher", "penalty": "none"}
CONSTRAINED = {"model": "teacher", "penalty": "seal", "lam": 0.1}
