"""The small-sample statistics of the verdicts (raysym.report.statistics, docs/methods.md §8): the intervals and
p-values agree with scipy.stats on fixed data, paired and unpaired, on the raw and the log scale;
Bonferroni's intervals cover a family together; the power figures deliver the power they promise by the
exact noncentral t."""

import math

import numpy as np
import pytest
from scipy import stats

from raysym.report import statistics

A = np.array([0.912, 0.905, 0.921, 0.899, 0.915])
B = np.array([0.918, 0.909, 0.931, 0.901, 0.926])


@pytest.mark.parametrize("level", [0.95, 1 - 0.05 / 9])
def test_the_paired_interval_and_p_value_are_scipys_ttest_rel(level):
    interval = statistics.paired(A, B, level)
    reference = stats.ttest_rel(B, A)
    low, high = reference.confidence_interval(level)
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)
    assert interval.p == pytest.approx(reference.pvalue, rel=1e-10)
    assert interval.df == reference.df == 4 and interval.paired
    assert interval.estimate == pytest.approx(np.mean(B - A))
    assert interval.sd_diff == pytest.approx(np.std(B - A, ddof=1))


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_the_welch_interval_degrees_of_freedom_and_p_value_are_scipys(level):
    b = np.array([0.93, 0.95, 0.90])
    interval = statistics.welch(A, b, level)
    reference = stats.ttest_ind(b, A, equal_var=False)
    low, high = reference.confidence_interval(level)
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)
    assert interval.df == pytest.approx(reference.df, rel=1e-12) and interval.df != len(A) + len(b) - 2
    assert interval.p == pytest.approx(reference.pvalue, rel=1e-10)
    assert not interval.paired and (interval.n_a, interval.n_b) == (5, 3)


def test_the_log_ratio_interval_is_the_t_interval_of_the_logs_paired_and_unpaired():
    a, b = np.array([20.0, 24.0, 21.0, 26.0]), np.array([1.7, 2.1, 1.6, 2.4])
    paired = statistics.log_ratio(a, b, 0.95, pair=True)
    low, high = stats.ttest_rel(np.log(b), np.log(a)).confidence_interval(0.95)
    assert (paired.low, paired.high) == pytest.approx((low, high))
    # The estimate is the log of the ratio of geometric means.
    assert math.exp(paired.estimate) == pytest.approx(stats.gmean(b) / stats.gmean(a))
    unpaired = statistics.log_ratio(a, b, 0.95, pair=False)
    low, high = stats.ttest_ind(np.log(b), np.log(a), equal_var=False).confidence_interval(0.95)
    assert (unpaired.low, unpaired.high) == pytest.approx((low, high))
    with pytest.raises(ValueError, match="positive"):
        statistics.log_ratio(a, -b)


def test_pairing_removes_what_a_seed_gives_both_biases():
    """Seeds that shift both biases alike widen Welch's interval but not the paired one."""
    seed_effect = np.array([0.0, 0.05, -0.04, 0.03, -0.02])
    a, b = 0.9 + seed_effect, 0.91 + seed_effect + np.array([0.001, -0.001, 0.0005, 0.0, -0.0005])
    assert statistics.paired(a, b).high - statistics.paired(a, b).low < \
        (statistics.welch(a, b).high - statistics.welch(a, b).low) / 10


def test_too_few_values_are_an_error_not_an_interval():
    with pytest.raises(ValueError):
        statistics.paired([1.0], [2.0])
    with pytest.raises(ValueError):
        statistics.welch([1.0, 2.0], [3.0])
    with pytest.raises(ValueError):
        statistics.paired([1.0, 2.0, 3.0], [1.0, 2.0])


def test_bonferroni_intervals_cover_the_whole_family_together():
    """Simulated: m = 5 findings with no effect, paired over 4 seeds. Unadjusted 95 % intervals miss at least
    one of the five far more often than 5 % of the time; intervals at 1 − α/m do not."""
    rng = np.random.default_rng(7)
    m, runs = 5, 1000
    level = statistics.family_level(0.05, m)
    assert level == pytest.approx(0.99)
    misses_family = misses_single = 0
    for _ in range(runs):
        samples = [(rng.normal(size=4), rng.normal(size=4)) for _ in range(m)]
        misses_family += any(not statistics.paired(a, b, level).contains(0.0) for a, b in samples)
        misses_single += any(not statistics.paired(a, b, 0.95).contains(0.0) for a, b in samples)
    assert misses_family / runs < 0.05 + 0.02
    assert misses_single / runs > 0.15
    with pytest.raises(ValueError):
        statistics.family_level(1.5, 3)


def exact_power_paired(n, sd, effect, alpha):
    """Power of the two-sided paired t test at true mean difference ``effect``, by the noncentral t."""
    df, shift = n - 1, effect / (sd / math.sqrt(n))
    critical = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)


@pytest.mark.parametrize("sd, effect, alpha", [(1.0, 0.5, 0.05), (1.0, 1.0, 0.05 / 9), (0.3, 0.05, 0.01),
                                               (0.02, 0.1146, 0.05 / 8)])
def test_seeds_needed_for_a_paired_design_reach_the_power_and_one_fewer_does_not(sd, effect, alpha):
    n = statistics.seeds_needed_paired(sd, effect, alpha, power=0.8)
    assert exact_power_paired(n, sd, effect, alpha) >= 0.79
    if n > 2:
        assert exact_power_paired(n - 1, sd, effect, alpha) < 0.8


def test_the_minimum_detectable_effect_is_detected_with_the_stated_power():
    interval = statistics.paired(A, B)
    mde = interval.mde(0.05, 0.8)
    assert mde == pytest.approx((stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)) * interval.se)
    assert exact_power_paired(5, interval.sd_diff, mde, 0.05) == pytest.approx(0.8, abs=0.03)


def test_seeds_needed_for_welch_is_the_smallest_n_meeting_the_welch_condition():
    sd_a, sd_b, effect, alpha = 0.02, 0.01, 0.015, 0.05 / 8
    n = statistics.seeds_needed_welch(sd_a, sd_b, effect, alpha)

    def half_width(k):
        df = stats.ttest_ind(*_samples_with(sd_a, sd_b, k), equal_var=False).df  # Welch's df at k per bias
        return (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(0.8, df)) * math.sqrt((sd_a ** 2 + sd_b ** 2) / k)

    assert half_width(n) <= effect < half_width(n - 1)


def _samples_with(sd_a, sd_b, n):
    """Two samples of n values with sample standard deviations exactly sd_a and sd_b."""
    base = np.linspace(-1.0, 1.0, n)
    base = base / base.std(ddof=1)
    return sd_a * base, sd_b * base


def test_seeds_needed_is_none_for_no_effect_or_beyond_the_limit_and_the_interval_dispatches():
    assert statistics.seeds_needed_paired(1.0, 0.0, 0.05) is None
    assert statistics.seeds_needed_paired(1.0, 1e-3, 0.05, limit=100) is None
    interval = statistics.paired(A, B)
    assert interval.seeds_needed(0.01, 0.05) == statistics.seeds_needed_paired(interval.sd_diff, 0.01, 0.05)
    unpaired = statistics.welch(A, B)
    assert unpaired.seeds_needed(0.01, 0.05) == statistics.seeds_needed_welch(unpaired.sd_a, unpaired.sd_b, 0.01,
                                                                              0.05)
    # The sign of the effect does not matter, only its size.
    assert interval.seeds_needed(-0.01, 0.05) == interval.seeds_needed(0.01, 0.05)


def test_pearson_matches_scipy_and_is_nan_for_two_points():
    r, n = statistics.pearson(A, B)
    assert n == 5 and r == pytest.approx(stats.pearsonr(A, B).statistic)
    assert math.isnan(statistics.pearson([1.0, 2.0], [2.0, 1.0])[0])
    assert math.isnan(statistics.pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])[0])
