"""Classifier metrics of the study (docs/methods.md §6.1): BCE, accuracy, ROC-AUC and the ROC curve.

Written on numpy so training, evaluation tasks, analyses and notebooks share one definition without
sklearn. Scores may be logits or probabilities: only their order matters for the ROC, and ``accuracy``
takes the threshold that matches the scores given. Each takes optional per-jet ``weights`` (a data set
with event weights, such as the ATLAS top-tagging data): every jet then counts with its weight, as a
weighted histogram of the scores would, and without them every jet counts once.
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


def _check_weights(weights, labels: np.ndarray) -> np.ndarray:
    """Per-jet weights as float64: one per jet, finite, >= 0, and some weight in each class."""
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if weights.shape != labels.shape:
        raise DataError(f"weights ({weights.size}) and labels ({labels.size}) differ in length")
    if not (np.isfinite(weights) & (weights >= 0)).all():
        raise DataError("jet weights must be finite and >= 0")
    if not (weights[labels].sum() > 0 and weights[~labels].sum() > 0):
        raise DataError("ROC needs weight in both classes; one class's weights sum to zero")
    return weights


def _tie_groups(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order sorting ``scores`` descending, index into the sorted scores of the last of each tie group)."""
    order = np.argsort(-scores, kind="mergesort")
    return order, np.r_[np.flatnonzero(np.diff(scores[order])), scores.size - 1]


def roc_auc(scores, labels, weights=None) -> float:
    """Area under the ROC curve = P(score_signal > score_background) + ½ P(tie) (Mann–Whitney U); with
    ``weights``, each signal–background pair counts with the product of its weights."""
    if weights is not None:
        return _weighted_roc_auc(scores, labels, weights)
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


def _weighted_roc_auc(scores, labels, weights) -> float:
    """The weighted AUC: for each group of tied scores, its signal weight times the background weight
    below it plus half the background weight tied with it, over (total signal × total background weight)."""
    scores, labels = _check(scores, labels)
    weights = _check_weights(weights, labels)
    order, last = _tie_groups(scores)
    starts = np.r_[0, last[:-1] + 1]
    signal = np.add.reduceat((weights * labels)[order], starts)
    background = np.add.reduceat((weights * ~labels)[order], starts)
    below = background.sum() - np.cumsum(background)  # groups are in descending score order
    return float((signal * (below + 0.5 * background)).sum() / (signal.sum() * background.sum()))


def roc_curve(scores, labels, weights=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, threshold) at every distinct score, from (0, 0) to (1, 1).

    In HEP terms: background efficiency ε_B and signal efficiency ε_S for a cut ``score >= threshold``;
    with ``weights``, the efficiencies are fractions of each class's weight.
    """
    scores, labels = _check(scores, labels)
    order, last_of_value = _tie_groups(scores)
    s, y = scores[order], labels[order]
    if weights is None:
        tps = np.cumsum(y)[last_of_value]
        fps = (last_of_value + 1) - tps
        tpr = np.r_[0.0, tps / y.sum()]
        fpr = np.r_[0.0, fps / (~y).sum()]
    else:
        w = _check_weights(weights, labels)[order]
        tps, fps = np.cumsum(w * y)[last_of_value], np.cumsum(w * ~y)[last_of_value]
        tpr, fpr = np.r_[0.0, tps / tps[-1]], np.r_[0.0, fps / fps[-1]]
    return fpr, tpr, np.r_[np.inf, s[last_of_value]]


def accuracy(scores, labels, threshold: float = 0.0, weights=None) -> float:
    """Fraction of jets (of their weight) with (score > threshold) == label; threshold 0 for logits, 0.5
    for probabilities."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    right = (scores > threshold) == labels
    if weights is None:
        return float(right.mean())
    weights = np.asarray(weights, dtype=np.float64).ravel()
    return float((weights * right).sum() / weights.sum())


def classification_metrics(logits: np.ndarray, y: np.ndarray, weights=None) -> dict[str, float]:
    """BCE, accuracy (logit > 0) and ROC-AUC of logits against 0/1 targets: the numbers every stage reports.
    With ``weights`` each is weighted, the BCE as Σ w·ℓ / Σ w."""
    target = torch.as_tensor(y, dtype=torch.float64)
    if weights is None:
        bce = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), target)
    else:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        bce = (F.binary_cross_entropy_with_logits(torch.from_numpy(logits), target, reduction="none") * w).sum() / w.sum()
    return {"bce": float(bce), "accuracy": accuracy(logits, y, weights=weights),
            "roc_auc": roc_auc(logits, y, weights)}
