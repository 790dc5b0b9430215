"""Metrics: AUC equals the pairwise-ordering probability, ties count half, ROC ends at (0,0) and (1,1)."""

import numpy as np
import pytest

from raysym.errors import DataError
from raysym.metrics import accuracy, roc_auc, roc_curve


def brute_force_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def test_auc_matches_pairwise_count_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=500) + labels, 1)  # rounding makes many ties
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_auc_of_perfect_random_and_inverted_scores():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], labels) == 0.5


def test_roc_curve_integrates_to_auc():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 1000)
    scores = rng.normal(size=1000) + 1.5 * labels
    fpr, tpr, thresholds = roc_curve(scores, labels)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and np.all(np.diff(thresholds) < 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(scores, labels), abs=1e-12)


def test_accuracy_threshold():
    assert accuracy([-1.0, 2.0, 0.5], [0, 1, 0]) == pytest.approx(2 / 3)
    assert accuracy([0.2, 0.7], [0, 1], threshold=0.5) == 1.0


def test_one_class_or_nan_scores_are_clear_errors():
    with pytest.raises(DataError, match="both classes"):
        roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(DataError, match="NaN"):
        roc_auc([np.nan, 0.2], [0, 1])


def _brute_force_weighted_auc(scores, labels, weights):
    signal, background = np.flatnonzero(labels), np.flatnonzero(~labels)
    pairs = sum(weights[i] * weights[j] * ((scores[i] > scores[j]) + 0.5 * (scores[i] == scores[j]))
                for i in signal for j in background)
    return pairs / (weights[signal].sum() * weights[background].sum())


def test_weighted_auc_matches_a_brute_force_weighted_pair_count_with_ties():
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=240), 1)  # many ties
    labels = rng.random(240) < 0.35
    weights = rng.exponential(size=240)
    assert roc_auc(scores, labels, weights) == pytest.approx(_brute_force_weighted_auc(scores, labels, weights),
                                                             rel=1e-12)
    assert roc_auc(scores, labels, np.ones(240)) == pytest.approx(roc_auc(scores, labels), rel=1e-12)
    doubled = np.r_[scores, scores[:10]], np.r_[labels, labels[:10]]
    twice = np.r_[weights, weights[:10]] * np.r_[np.ones(240), np.zeros(10)] + np.r_[np.zeros(240), weights[:10]]
    heavier = weights.copy()
    heavier[:10] *= 2  # a jet of weight 2w counts as two jets of weight w
    assert roc_auc(scores, labels, heavier) == pytest.approx(roc_auc(*doubled, twice), rel=1e-12)


def test_weighted_roc_curve_integrates_to_the_weighted_auc_and_accuracy_weighs_jets():
    rng = np.random.default_rng(4)
    scores, labels, weights = rng.normal(size=500), rng.random(500) < 0.5, rng.exponential(size=500)
    scores[labels] += 1.0
    fpr, tpr, _ = roc_curve(scores, labels, weights)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(scores, labels, weights), rel=1e-12)
    right = (scores > 0) == labels
    assert accuracy(scores, labels, weights=weights) == pytest.approx((weights * right).sum() / weights.sum())


@pytest.mark.parametrize("weights,message", [
    (np.ones(3), "differ in length"),
    (np.array([1.0, -1.0, 1.0, 1.0]), "finite and >= 0"),
    (np.array([1.0, np.nan, 1.0, 1.0]), "finite and >= 0"),
    (np.array([0.0, 0.0, 1.0, 1.0]), "weight in both classes"),
])
def test_bad_weights_are_one_clear_error(weights, message):
    with pytest.raises(DataError, match=message):
        roc_auc(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 1, 0, 0]), weights)
