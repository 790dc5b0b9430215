"""Small-sample statistics for the report's verdicts (docs/methods.md §8). These are pure functions on arrays
of per-seed values, with no store and no pandas.

The report compares two biases trained on a handful of seeds each. It needs t intervals (never z) for the
difference of their means, paired by seed when both biases share the seeds (the same seed gives both the
same initial weights and batch order), Welch's otherwise. On the log scale the same intervals give a ratio.
The family of findings is covered by Bonferroni's level. The power calculations say how small an effect a
study could have seen and how many seeds it would take to see the paper's.

Formulas: Student's paired t and Welch's t with the Welch–Satterthwaite degrees of freedom (Welch 1947,
Biometrika 34, 28; Satterthwaite 1946, Biometrics Bull. 2, 110). Bonferroni's simultaneous intervals
(Dunn 1961, JASA 56, 52). Power by the usual shifted-t approximation, n such that (t_{1−α/2} + t_power)·SE
≤ |effect| (e.g. Chow, Shao & Wang 2008, *Sample Size Calculations in Clinical Research*, §3.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Seeds-needed searches stop here. A finding that needs more is out of reach for a seed study.
SEEDS_LIMIT = 10_000


@dataclass(frozen=True)
class Interval:
    """A t interval for the difference ``b − a`` of two biases' means (on the scale of the values given:
    raw, or logs for a ratio), with what it rests on."""

    estimate: float  # mean(b − a) paired, mean(b) − mean(a) unpaired
    low: float
    high: float
    level: float  # the confidence level of [low, high]
    se: float
    df: float
    p: float  # two-sided p-value for no difference (unadjusted)
    n_a: int
    n_b: int
    paired: bool
    sd_a: float  # sample standard deviations of each bias's values
    sd_b: float
    sd_diff: float  # paired: of the per-seed differences b − a; NaN unpaired

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def mde(self, alpha: float, power: float = 0.8) -> float:
        """The smallest |true difference| this design detects with probability ``power`` at two-sided level
        ``alpha``: (t_{1−α/2,df} + t_{power,df}) · SE."""
        return minimum_detectable(self.se, self.df, alpha, power)

    def seeds_needed(self, effect: float, alpha: float, power: float = 0.8) -> int | None:
        """Seeds per bias to detect ``effect`` with this interval's measured spread and design (paired or
        not), or None past :data:`SEEDS_LIMIT`."""
        if self.paired:
            return seeds_needed_paired(self.sd_diff, effect, alpha, power)
        return seeds_needed_welch(self.sd_a, self.sd_b, effect, alpha, power)


def _values(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError("expected a one-dimensional array of per-seed values")
    return x


def _two_sided_p(t: float, df: float) -> float:
    if math.isnan(t):  # no spread and no difference
        return 1.0
    return float(2 * stats.t.sf(abs(t), df))


def _interval(estimate: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    """(low, high, p) of a t interval: estimate ± t_{(1+level)/2, df} · se."""
    half = float(stats.t.ppf((1 + level) / 2, df)) * se
    t = estimate / se if se > 0 else (math.nan if estimate == 0 else math.copysign(math.inf, estimate))
    return estimate - half, estimate + half, _two_sided_p(t, df)


def paired(a, b, level: float = 0.95) -> Interval:
    """The paired t interval of mean(b − a) over seeds: ``a[i]`` and ``b[i]`` are the same seed's values.
    Pairing removes what a seed gives both biases alike (initial weights, batch order) from the error."""
    a, b = _values(a), _values(b)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a paired interval needs two equally long samples of at least 2; got {len(a)}, {len(b)}")
    d = b - a
    n = len(d)
    sd = float(d.std(ddof=1))
    se, df = sd / math.sqrt(n), n - 1
    low, high, p = _interval(float(d.mean()), se, df, level)
    return Interval(float(d.mean()), low, high, level, se, df, p, n, n, True, float(a.std(ddof=1)),
                    float(b.std(ddof=1)), sd)


def welch_df(var_a: float, n_a: int, var_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom of mean(b) − mean(a) from the sample variances."""
    ua, ub = var_a / n_a, var_b / n_b
    if ua + ub == 0:
        return float(n_a + n_b - 2)  # no spread at all: the df no longer matters, keep it finite
    return (ua + ub) ** 2 / (ua ** 2 / (n_a - 1) + ub ** 2 / (n_b - 1))


def welch(a, b, level: float = 0.95) -> Interval:
    """Welch's t interval of mean(b) − mean(a) for independent samples with unequal variances."""
    a, b = _values(a), _values(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"Welch's interval needs at least 2 values per sample; got {len(a)}, {len(b)}")
    var_a, var_b = float(a.var(ddof=1)), float(b.var(ddof=1))
    se = math.sqrt(var_a / len(a) + var_b / len(b))
    df = welch_df(var_a, len(a), var_b, len(b))
    estimate = float(b.mean() - a.mean())
    low, high, p = _interval(estimate, se, df, level)
    return Interval(estimate, low, high, level, se, df, p, len(a), len(b), False, math.sqrt(var_a),
                    math.sqrt(var_b), math.nan)


def difference(a, b, level: float = 0.95, pair: bool = True) -> Interval:
    """:func:`paired` when ``pair`` (a and b aligned by seed), :func:`welch` otherwise."""
    return paired(a, b, level) if pair else welch(a, b, level)


def log_ratio(a, b, level: float = 0.95, pair: bool = True) -> Interval:
    """The interval of log(b / a): the paired t interval of the per-seed log(b_i / a_i) when ``pair``, Welch's
    interval on the logs otherwise. exp() of its estimate and ends is the ratio of geometric means and its
    interval. Every value must be positive (λ1 and Tr(H) are)."""
    a, b = _values(a), _values(b)
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("a log-ratio interval needs positive values")
    return difference(np.log(a), np.log(b), level, pair)


def family_level(alpha: float, m: int) -> float:
    """Bonferroni: the confidence level 1 − α/m of each of m intervals, so that all m cover their true values
    together with probability at least 1 − α."""
    if not 0 < alpha < 1:
        raise ValueError(f"the family error rate must be in (0, 1); got {alpha}")
    return 1 - alpha / max(m, 1)


def minimum_detectable(se: float, df: float, alpha: float, power: float = 0.8) -> float:
    """(t_{1−α/2,df} + t_{power,df}) · SE: the true effect that a two-sided level-α t test detects with
    probability ``power`` (the shifted-t approximation, which ignores the far tail)."""
    return float(stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * se


def _first_n(needed: np.ndarray, n: np.ndarray, effect: float) -> int | None:
    reached = np.nonzero(needed <= abs(effect))[0]
    return int(n[reached[0]]) if len(reached) else None


def seeds_needed_paired(sd_diff: float, effect: float, alpha: float, power: float = 0.8,
                        limit: int = SEEDS_LIMIT) -> int | None:
    """The smallest n ≥ 2 with (t_{1−α/2,n−1} + t_{power,n−1}) · sd/√n ≤ |effect|, ``sd`` the standard
    deviation of the per-seed differences; None when ``effect`` is 0 or n would pass ``limit``."""
    if effect == 0 or not math.isfinite(effect) or not math.isfinite(sd_diff):
        return None
    n = np.arange(2, limit + 1)
    needed = (stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd_diff / np.sqrt(n)
    return _first_n(needed, n, effect)


def seeds_needed_welch(sd_a: float, sd_b: float, effect: float, alpha: float, power: float = 0.8,
                       limit: int = SEEDS_LIMIT) -> int | None:
    """The smallest n ≥ 2 seeds per bias with (t_{1−α/2,ν} + t_{power,ν}) · √((sd_a² + sd_b²)/n) ≤ |effect|,
    ν Welch's df at n per bias; None when ``effect`` is 0 or n would pass ``limit``."""
    if effect == 0 or not all(math.isfinite(x) for x in (effect, sd_a, sd_b)):
        return None
    n = np.arange(2, limit + 1)
    va, vb = sd_a ** 2, sd_b ** 2
    df = (n - 1) * (va + vb) ** 2 / (va ** 2 + vb ** 2) if va + vb > 0 else 2 * n - 2.0
    needed = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)) * np.sqrt((va + vb) / n)
    return _first_n(needed, n, effect)


def pearson(a, b) -> tuple[float, int]:
    """(Pearson's r of the pairs (a_i, b_i), number of pairs): how much of a seed's value the two biases
    share. NaN with fewer than three pairs (two points are always r = ±1) or a constant sample."""
    a, b = _values(a), _values(b)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan, len(a)
    return float(np.corrcoef(a, b)[0, 1]), len(a)
