"""The end-of-study tables, read back from the store so they show exactly what a user would query: mean ±
std over seeds of accuracy and ROC-AUC per bias and task (Glowacki Table 1), and the distillation MSE
per bias (the endpoint of Glowacki Fig. 9)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from raysym.store import ResultStore


def performance_table(store: ResultStore, study: str, trial_ids: Iterable[str] | None = None,
                      evaluation_key: str | None = None) -> pd.DataFrame:
    """One row per (bias, task): seeds, accuracy mean/std, ROC-AUC mean/std (test split).

    ``trial_ids`` and ``evaluation_key`` keep only the trials and evaluation settings of the current run
    (a store may also hold runs with other settings); None keeps everything of the study.
    """
    evaluations = store.load("evaluations")
    keep = (evaluations["study"] == study) & (evaluations["split"] == "test")
    if trial_ids is not None:
        keep &= evaluations["trial_id"].isin(list(trial_ids))
    if evaluation_key is not None and "settings_key" in evaluations:
        keep &= evaluations["settings_key"] == evaluation_key
    evaluations = evaluations[keep]
    trials = store.load("trials")
    if not evaluations.empty:
        evaluations = evaluations.drop(columns=["bias"], errors="ignore").merge(
            trials[["study", "trial_id", "bias"]], on=["study", "trial_id"], how="left")
    if evaluations.empty:
        return pd.DataFrame(columns=["bias", "task", "seeds", "accuracy", "accuracy_std", "roc_auc", "roc_auc_std"])
    grouped = evaluations.groupby(["bias", "task"], sort=True)
    table = grouped.agg(seeds=("seed", "nunique"), accuracy=("accuracy", "mean"), accuracy_std=("accuracy", "std"),
                        roc_auc=("roc_auc", "mean"), roc_auc_std=("roc_auc", "std"))
    return table.reset_index().fillna({"accuracy_std": 0.0, "roc_auc_std": 0.0})


def format_table(table: pd.DataFrame) -> str:
    """The table as text: ``0.9424 ± 0.0024`` cells, biases as rows, tasks as column pairs."""
    if table.empty:
        return "(no evaluations in the store)"
    lines = [f"{'bias':<28}{'task':<9}{'seeds':>6}{'accuracy':>20}{'ROC-AUC':>20}"]
    for row in table.itertuples():
        lines.append(f"{row.bias:<28}{row.task:<9}{row.seeds:>6}"
                     f"{row.accuracy:>11.4f} ± {row.accuracy_std:.4f}{row.roc_auc:>11.4f} ± {row.roc_auc_std:.4f}")
    return "\n".join(lines)


def distillation_table(store: ResultStore, study: str, student_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per bias: teachers, students, and the final and best val MSE (student vs teacher logits),
    mean ± std over teachers and student seeds (Glowacki Fig. 9's endpoint). ``student_ids`` keeps only
    the current run's students."""
    students = store.load("students")
    students = students[students["study"] == study]
    if student_ids is not None:
        students = students[students["student_id"].isin(list(student_ids))]
    columns = ["bias", "teachers", "students", "final_val_mse", "final_val_mse_std", "best_val_mse",
               "best_val_mse_std"]
    if students.empty:
        return pd.DataFrame(columns=columns)
    table = students.groupby("bias", sort=True).agg(
        teachers=("trial_id", "nunique"), students=("student_id", "nunique"),
        final_val_mse=("final_val_mse", "mean"), final_val_mse_std=("final_val_mse", "std"),
        best_val_mse=("best_val_mse", "mean"), best_val_mse_std=("best_val_mse", "std"))
    return table.reset_index().fillna({"final_val_mse_std": 0.0, "best_val_mse_std": 0.0})[columns]


def format_distillation_table(table: pd.DataFrame) -> str:
    """The distillation table as text, one bias per line."""
    if table.empty:
        return "(no distilled students in the store)"
    lines = [f"{'bias':<28}{'teachers':>9}{'students':>9}{'final val MSE':>24}{'best val MSE':>24}"]
    for row in table.itertuples():
        lines.append(f"{row.bias:<28}{row.teachers:>9}{row.students:>9}"
                     f"{row.final_val_mse:>13.4g} ± {row.final_val_mse_std:<8.2g}"
                     f"{row.best_val_mse:>13.4g} ± {row.best_val_mse_std:.2g}")
    return "\n".join(lines)
