"""Classifier metrics of the study (docs/methods.md §6.1): BCE, accuracy, ROC-AUC and the ROC curve.

Written on numpy so training, evaluation tasks, analyses and notebooks share one definition without
sklearn. Scores may be logits or probabilities: only their order matters for the ROC, and ``accuracy``
takes the threshold that matches the scores given.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from raysym.errors import DataError


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape:
        raise DataError(f"scores ({scores.size}) and labels ({labels.size}) differ in length")
    if not np.isfinite(scores).all():
        raise DataError(f"{int((~np.isfinite(scores)).sum())} classifier score(s) are NaN or infinite")
    if labels.all() or not labels.any():
        raise DataError("ROC needs jets of both classes; the labels hold only one")
    return scores, labels


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve = P(score_signal > score_background) + ½ P(tie) (Mann–Whitney U)."""
    scores, labels = _check(scores, labels)
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # Average ranks over ties, 1-based.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [scores.size]])
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    n_pos = labels.sum()
    n_neg = labels.size - n_pos
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, threshold) at every distinct score, from (0, 0) to (1, 1).

    In HEP terms: background efficiency ε_B and signal efficiency ε_S for a cut ``score >= threshold``.
    """
    scores, labels = _check(scores, labels)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last_of_value]
    fps = (last_of_value + 1) - tps
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (~y).sum()]
    return fpr, tpr, np.r_[np.inf, s[last_of_value]]


def accuracy(scores, labels, threshold: float = 0.0) -> float:
    """Fraction of jets with (score > threshold) == label; threshold 0 for logits, 0.5 for probabilities."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    return float(((scores > threshold) == labels).mean())


def classification_metrics(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """BCE, accuracy (logit > 0) and ROC-AUC of logits against 0/1 targets: the numbers every stage reports."""
    bce = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.as_tensor(y, dtype=torch.float64))
    return {"bce": float(bce), "accuracy": accuracy(logits, y), "roc_auc": roc_auc(logits, y)}
