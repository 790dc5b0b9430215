"""Each of Glowacki's findings against this study's numbers, by one stated rule, never by hand
(docs/methods.md §8).

Each finding is an effect of SEAL (λ = 0.1) against the unconstrained teacher: a difference of the two
biases' means, or for λ1 and Tr(H) a ratio (Table 2). It gets a t interval over seeds: paired when both
biases have the same seeds, Welch's otherwise, and on the log scale for a ratio. The intervals are
Bonferroni-simultaneous: each has level 1 − α/m, where m counts the findings that have an interval, so all of
them hold together with probability 1 − α. The outcome follows from what the interval contains:

- where the paper gives a number (Tables 1–3), five outcomes: **reproduced** (the interval excludes no
  effect, lies on the paper's side and contains the paper's value), **same direction, smaller** or
  **larger than the paper** (it excludes both no effect and the paper's value), **paper's size excluded,
  no effect resolved** (it contains no effect but not the paper's value), **opposite**, and **not
  resolved** (it contains both);
- where the paper shows the finding only in a figure (Figs. 5, 7, 9) or does not measure it (the symmetry
  violation, the mechanism checked first): **reproduced**, **opposite** or **not resolved**;
- parity in distribution (Table 1): **reproduced** when the interval lies inside ±0.01 ROC-AUC,
  **opposite** when it lies outside, **not resolved** otherwise;
- **not measured** without the numbers. With one seed per bias there is no interval.

Every finding also gets the minimum detectable effect at 80 % power, and where the paper gives a size, the
seeds per bias needed to detect it, from the measured spread. These are never computed from the observed
effect.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

from raysym.data.tasks import HLS4ML_RECORD, ROLES, DatasetRecord, TaskSpec
from raysym.report import paper, statistics, summaries
from raysym.report.selection import StudyRun
from raysym.report.statistics import Interval
from raysym.report.summaries import number

REPRODUCED, OPPOSITE, NOT_RESOLVED, NOT_MEASURED = "reproduced", "opposite", "not resolved", "not measured"
SMALLER, LARGER = "same direction, smaller than the paper", "same direction, larger than the paper"
PAPER_EXCLUDED = "paper's size excluded, no effect resolved"
#: Every outcome, in the order of how much of the paper's claim it supports.
OUTCOMES = (REPRODUCED, LARGER, SMALLER, PAPER_EXCLUDED, NOT_RESOLVED, OPPOSITE, NOT_MEASURED)
DIFFERENCE, RATIO = "difference", "ratio"
#: Parity in distribution: ROC-AUC differences inside ±this are negligible (Glowacki §4.1, Table 1).
PARITY_AUC = 0.01
#: The power at which the minimum detectable effect and the seeds needed are computed.
POWER = 0.8
#: A standard error below this fraction of the values is rounding, not spread (identical per-seed differences).
ROUNDING = 1e-10
#: The Hutchinson standard error of Tr(H) counts as comparable to the seed spread or the effect at this fraction.
COMPARABLE = 0.5


@dataclass(frozen=True)
class Finding:
    """One finding of the paper: what is compared (``column`` of the per-trial rows that ``rows`` gives), which
    way the paper says SEAL moves it (``sign``: +1 up, −1 down), on which scale, and the paper's value of
    the effect on that scale (a difference, or a ratio) where it gives one."""

    key: str
    claim: str
    tables: tuple[str, ...]
    rows: Callable[[StudyRun], pd.DataFrame]
    column: str
    sign: int
    scale: str = DIFFERENCE
    paper: float | None = None
    parity: bool = False


@dataclass(frozen=True)
class Verdict:
    """One finding, the rule's outcome, and the numbers it rests on.

    ``estimate``, ``low`` and ``high`` are SEAL − unconstrained on the difference scale, SEAL / unconstrained
    (the ratio of geometric means over seeds) on the ratio scale. ``level`` is the confidence level of this one
    interval (1 − α/m, Bonferroni over the ``family`` of m findings with an interval). ``df`` is the degrees
    of freedom of its t, and ``p`` the unadjusted two-sided p-value for no effect. ``correlation`` is the
    Pearson r of the two biases' values over their shared seeds (NaN unpaired), on the test scale. ``mde``
    is the smallest effect detectable at 80 % power, as a difference or as |log ratio|; for parity it is the
    narrowest margin this study could confirm. ``seeds_needed`` is per bias, to detect the paper's effect, or
    None (no paper value, no spread, or more than :data:`statistics.SEEDS_LIMIT`). ``paper`` is the paper's
    effect on this scale.
    """

    key: str
    finding: str
    outcome: str
    detail: str
    scale: str = DIFFERENCE
    estimate: float = math.nan
    low: float = math.nan
    high: float = math.nan
    level: float = math.nan
    df: float = math.nan
    p: float = math.nan
    n_a: int = 0
    n_b: int = 0
    paired: bool = False
    correlation: float = math.nan
    paper: float | None = None
    mde: float | None = None
    seeds_needed: int | None = None
    family: int = 0

    @property
    def resolved(self) -> bool:
        """Whether the interval excludes no effect (parity: whether it settles parity either way)."""
        return self.outcome in (REPRODUCED, SMALLER, LARGER, OPPOSITE)


def _evaluation(task: str) -> Callable[[StudyRun], pd.DataFrame]:
    def rows(run: StudyRun) -> pd.DataFrame:
        evaluations = run.table("evaluations")
        return evaluations[evaluations["task"] == task]
    return rows


def _along_nu1(run: StudyRun) -> pd.DataFrame:
    rises = summaries.goldstone_rise(run)
    return rises[rises["direction"] == "nu1"]


def _auc_paper(dataset: DatasetRecord, task: TaskSpec) -> float | None:
    """The paper's ROC-AUC difference for ``task``: Glowacki measured hls4ml's tasks only."""
    if dataset.name != HLS4ML_RECORD.name or task not in HLS4ML_RECORD.tasks:
        return None
    return round(paper.roc_auc_difference(task.name), 4)


def _in_distribution(dataset: DatasetRecord) -> tuple[Finding, ...]:
    task = dataset.by_role("in")[0]
    table = " (Table 1)" if _auc_paper(dataset, task) is not None else ""
    return (Finding(f"auc_{task.name}", f"Parity in distribution: SEAL costs no {task.title} ROC-AUC{table}",
                    ("evaluations",), _evaluation(task.name), "roc_auc", 0, paper=_auc_paper(dataset, task),
                    parity=True),)


def _out_of_distribution(dataset: DatasetRecord) -> tuple[Finding, ...]:
    """One finding per out-of-distribution task the data set declares (none: no such finding at all)."""
    found = []
    for task in dataset.ood:
        table = " (Table 3)" if _auc_paper(dataset, task) is not None else ""
        found.append(Finding(f"auc_{task.name}", f"{ROLES[task.role].capitalize()}: higher {task.title} "
                             f"ROC-AUC with SEAL{table}", ("evaluations",), _evaluation(task.name), "roc_auc", +1,
                             paper=_auc_paper(dataset, task)))
    return tuple(found)


#: The findings that do not depend on the data set's tasks.
_MECHANISM = Finding("symmetry", "Mechanism: SEAL lowers the learned symmetry violation |σ(f(x)) − σ(f(Λx))| over "
                     "boosts (docs/methods.md §6.8; the paper infers it, Fig. 6)", ("symmetry",),
                     lambda run: summaries.symmetry_violation(run, "boost"), "violation", -1)
_CURVATURE_TO_ROBUSTNESS: tuple[Finding, ...] = (
    Finding("lambda1", "Lower curvature: λ1 smaller with SEAL (Table 2)", ("hessian",), summaries.curvature,
            "lambda1", -1, RATIO, paper.CURVATURE_RATIOS["lambda1"]),
    Finding("trace", "Lower curvature: Tr(H) smaller with SEAL (Table 2)", ("hessian",), summaries.curvature,
            "trace", -1, RATIO, paper.CURVATURE_RATIOS["trace"]),
    Finding("goldstone", "Pseudo-Goldstone flatness: the loss rises less along ν1 with SEAL (Fig. 5)", ("goldstone",),
            _along_nu1, "rise", -1),
    Finding("smearing", "Robustness: SEAL loses less ROC-AUC under pT smearing (Fig. 7)", ("smearing",),
            summaries.smearing_drop, "drop", -1),
)
_COMPRESSIBILITY = Finding("distillation", "Compressibility: the SEAL teacher distils to a lower MSE (Fig. 9)",
                           ("students",), lambda run: run.table("students"), "final_val_mse", -1)


def findings(dataset: DatasetRecord = HLS4ML_RECORD) -> tuple[Finding, ...]:
    """The findings a study of ``dataset`` can test, in the order the report reads them: the mechanism
    first, then parity in distribution (Table 1), curvature, flatness and robustness (Table 2, Figs. 5 and 7),
    one out-of-distribution finding per such task the data set declares (Table 3), and compressibility
    (Fig. 9). A data set without an out-of-distribution task has no such finding."""
    return (_MECHANISM, *_in_distribution(dataset), *_CURVATURE_TO_ROBUSTNESS, *_out_of_distribution(dataset),
            _COMPRESSIBILITY)


#: The findings of a study of hls4ml jets (Glowacki's).
FINDINGS: tuple[Finding, ...] = findings()


# The rule: what an interval on the test scale (a difference, or a log ratio) says about a finding.

def outcome(low: float, high: float, sign: int, paper_value: float | None = None) -> str:
    """The outcome of an interval [low, high] for a finding whose paper says SEAL moves it ``sign`` (+1 up, −1
    down): with the paper's value of the effect (on the same scale), one of five; without, one of three."""
    if low > 0 or high < 0:  # no effect excluded
        if (low > 0) != (sign > 0):
            return OPPOSITE
        if paper_value is None or low <= paper_value <= high:
            return REPRODUCED
        return SMALLER if abs(paper_value) > max(abs(low), abs(high)) else LARGER
    if paper_value is None or low <= paper_value <= high:
        return NOT_RESOLVED
    return PAPER_EXCLUDED


def parity_outcome(low: float, high: float, margin: float = PARITY_AUC) -> str:
    """Parity as an equivalence: reproduced when the whole interval lies inside ±``margin``, opposite when it
    lies wholly outside (SEAL changes the score by more than the margin), not resolved when it straddles."""
    if -margin < low and high < margin:
        return REPRODUCED
    if high < -margin or low > margin:
        return OPPOSITE
    return NOT_RESOLVED


@dataclass(frozen=True)
class _Samples:
    """One finding's per-seed values of the two biases, and which interval they allow."""

    a: pd.Series
    b: pd.Series
    log: bool  # on the log scale (a ratio), all values being positive

    @property
    def paired(self) -> bool:
        return len(self.a) >= 2 and list(self.a.index) == list(self.b.index)

    @property
    def testable(self) -> bool:
        return self.paired or (len(self.a) >= 2 and len(self.b) >= 2)

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """Both biases' values on the test scale (logs for a ratio)."""
        a, b = self.a.to_numpy(dtype=float), self.b.to_numpy(dtype=float)
        return (np.log(a), np.log(b)) if self.log else (a, b)

    def interval(self, level: float) -> Interval:
        """The t interval of b − a on the test scale, paired or Welch's (a log ratio: a difference of logs)."""
        return statistics.difference(*self.values(), level, self.paired)

    @property
    def size(self) -> float:
        """The largest |value| on the test scale: what rounding is measured against."""
        return max(float(np.abs(np.concatenate(self.values())).max()), 1e-300)

    def estimate(self) -> float:
        """mean(b) − mean(a) on the test scale; 0 where it is rounding (two sums of the same numbers in another
        order), so it never prints as −1.1e-16."""
        a, b = self.values()
        value = float(b.mean() - a.mean())
        return 0.0 if abs(value) <= ROUNDING * self.size else value


def _samples(run: StudyRun, finding: Finding, a: str | None, b: str | None) -> _Samples | str:
    """The finding's values, or why there are none."""
    if a is None or b is None:
        return "the study lacks the unconstrained teacher or SEAL λ = 0.1"
    missing = [t for t in finding.tables if not run.has(t)]
    if missing:
        return f"no {', '.join(missing)} table"
    rows = finding.rows(run)
    if rows.empty or finding.column not in rows:
        return f"no {finding.column} values"
    values = summaries.per_seed(rows, finding.column, a), summaries.per_seed(rows, finding.column, b)
    if values[0].empty or values[1].empty:
        return f"no {finding.column} values for {a if values[0].empty else b}"
    positive = all((v > 0).all() for v in values)
    return _Samples(*values, log=finding.scale == RATIO and positive)


def verdicts(run: StudyRun, *, alpha: float | None = None, power: float = POWER) -> list[Verdict]:
    """The paper's findings, unconstrained (a) against SEAL λ = 0.1 (b), each with its outcome, its
    Bonferroni-simultaneous interval at family error rate ``alpha`` and the power figures at ``power``
    (docs/methods.md §8). ``alpha`` defaults to the run's own (``StudyRun.alpha``: 0.05, or the share a
    sequential study's look spends, docs/methods.md §8)."""
    alpha = run.alpha if alpha is None else alpha
    a, b = summaries.paper_biases(run)
    tested = findings(run.dataset)
    samples = {f.key: _samples(run, f, a, b) for f in tested}
    family = sum(isinstance(s, _Samples) and s.testable for s in samples.values())
    level = statistics.family_level(alpha, family)
    found = []
    for finding in tested:
        sample = samples[finding.key]
        if isinstance(sample, str):
            found.append(Verdict(finding.key, finding.claim, NOT_MEASURED, sample, finding.scale,
                                 paper=finding.paper, family=family))
        else:
            found.append(_verdict(run, finding, sample, level, family, power, (a, b)))
    return found


def _verdict(run: StudyRun, finding: Finding, sample: _Samples, level: float, family: int, power: float,
             biases: tuple[str, str]) -> Verdict:
    """One measured finding's verdict: its interval at ``level`` and the outcome, or why there is none."""
    scale = RATIO if sample.log else DIFFERENCE
    paper_value = finding.paper if scale == finding.scale else None  # a ratio cannot judge a difference
    base = dict(key=finding.key, finding=finding.claim, scale=scale, paper=paper_value, n_a=len(sample.a),
                n_b=len(sample.b), paired=sample.paired, family=family, estimate=_back(sample.estimate(), scale))
    shown = _shown(scale, sample.estimate())
    if finding.scale == RATIO and scale != RATIO:
        shown += " (a value ≤ 0 rules out the ratio: compared as a difference, without the paper's ratio)"
    note = _hutchinson_note(run, biases) if finding.key == "trace" else ""
    if not sample.testable:
        return Verdict(outcome=NOT_RESOLVED, detail=f"{shown}: one seed for a bias, so no spread and no "
                       f"interval; a second seed per bias is the least that gives one{note}", **base)
    iv = sample.interval(level)
    numbers = dict(low=_back(iv.low, scale), high=_back(iv.high, scale), level=level, df=iv.df, p=iv.p,
                   correlation=statistics.pearson(*sample.values())[0] if sample.paired else math.nan)
    if not iv.se > ROUNDING * sample.size:
        same = "value" if not sample.paired else "ratio" if sample.log else "difference"
        return Verdict(outcome=NOT_RESOLVED, detail=f"{shown}: every seed gives the same {same}, so there is no "
                       f"spread to judge it by{note}", **base, **numbers)
    paper_test = None if paper_value is None else math.log(paper_value) if scale == RATIO else paper_value
    result, mde, needed = _judge(finding, iv, paper_test, 1 - level, power)
    verdict = Verdict(outcome=result, detail="", mde=mde, seeds_needed=needed, **base, **numbers)
    return replace(verdict, detail=_detail(verdict, iv, shown, power, finding.parity) + note)


def _judge(finding: Finding, iv: Interval, paper_test: float | None, alpha: float,
           power: float) -> tuple[str, float, int | None]:
    """(outcome, minimum detectable effect, seeds needed) of an interval at per-finding level 1 − ``alpha``.
    For parity the effect to detect is the room between the paper's difference and the margin, and the
    "minimum detectable effect" is the narrowest margin this study could confirm (docs/methods.md §8)."""
    if finding.parity:
        return (parity_outcome(iv.low, iv.high), abs(paper_test) + iv.mde(alpha, power),
                iv.seeds_needed(PARITY_AUC - abs(paper_test), alpha, power))
    needed = None if paper_test is None else iv.seeds_needed(paper_test, alpha, power)
    return outcome(iv.low, iv.high, finding.sign, paper_test), iv.mde(alpha, power), needed


def _back(value: float, scale: str) -> float:
    """A test-scale number on the reader's scale: a log ratio as a ratio (beyond float range, infinite: an
    early look of a sequential study reads its intervals at a tiny α, and with two seeds a log-ratio
    interval can span thousands of e-folds)."""
    if scale != RATIO:
        return value
    return math.inf if value > math.log(sys.float_info.max) else math.exp(value)


def _shown(scale: str, estimate: float) -> str:
    """What is compared, with its point estimate (b − a of the means on the test scale)."""
    if scale == RATIO:
        return f"SEAL / unconstrained {number(math.exp(estimate), 3)} (ratio of geometric means over seeds)"
    return f"SEAL − unconstrained {number(estimate, 4, sign=True)}"


def _design(v: Verdict, iv: Interval) -> str:
    """The interval's level, pairing and degrees of freedom, and for paired seeds their correlation."""
    if v.paired:
        r = summaries.correlation_text(v.correlation, v.n_a, "r")
        design = f"paired over {v.n_a} seeds, df {iv.df:.0f}; seed correlation {r}"
    else:
        design = f"Welch, {v.n_a} and {v.n_b} seeds, df {iv.df:.1f}"
    on = " on the per-seed log ratios" if v.scale == RATIO and v.paired else " on the logs" if v.scale == RATIO else ""
    jointly = f", {1 - (1 - v.level) * v.family:.0%} jointly over {v.family} findings" if v.family > 1 else ""
    return f"{v.level:.1%} t interval{on}{jointly}; {design}"


def _detail(v: Verdict, iv: Interval, shown: str, power: float, parity: bool) -> str:
    """The human-readable line: estimate, interval, design, the paper's value, and for an unresolved finding
    the smallest detectable effect and the seeds needed."""
    digits, sign = (3, False) if v.scale == RATIO else (4, True)
    text = (f"{shown}, interval [{number(v.low, digits, sign=sign)}, {number(v.high, digits, sign=sign)}] "
            f"({_design(v, iv)})")
    if v.paper is not None:
        text += f"; paper {number(v.paper, digits, sign=sign)}"
    if parity:
        text += f"; parity margin ±{PARITY_AUC:g}"
        if v.outcome == NOT_RESOLVED:
            text += (f"; the narrowest margin this study could confirm (at the paper's difference, {power:.0%} "
                     f"power) is ±{number(v.mde, 4)}; {_seeds(v.seeds_needed)} would confirm ±{PARITY_AUC:g}")
        return text
    if not v.resolved:
        if v.scale == RATIO:
            low, high = _back(-v.mde, RATIO), _back(v.mde, RATIO)
            text += f"; smallest detectable ratio at {power:.0%} power {number(low, 3)} (or {number(high, 3)})"
        else:
            text += f"; smallest detectable effect at {power:.0%} power ±{number(v.mde, 4)}"
        text += (f"; {_seeds(v.seeds_needed)} would detect the paper's {number(v.paper, digits, sign=sign)}"
                 if v.paper is not None else "; the paper gives no size to plan seeds for")
    return text


def _seeds(needed: int | None) -> str:
    return f"more than {statistics.SEEDS_LIMIT:,} seeds per bias" if needed is None else f"{needed} seeds per bias"


def _hutchinson_note(run: StudyRun, biases: tuple[str, str]) -> str:
    """Where the trace estimator's own error is comparable to the seed spread or the effect: a sentence
    saying so (more probes, not more seeds, would narrow that part)."""
    noise = summaries.trace_noise(run, biases)
    if noise is None:
        return ""
    stderr, spread, effect = noise
    against = [f"{name} ({number(size, 3, 'g')})" for name, size in
               (("the seed spread, sd", spread), ("the difference of the means", effect))
               if math.isfinite(size) and stderr >= COMPARABLE * size]
    if not against:
        return ""
    return (f"; the Hutchinson standard error of Tr(H) ({number(stderr, 3, 'g')}, mean over trials) is comparable "
            f"to {' and to '.join(against)}: part of what separates these traces is the estimator's error, which "
            f"more trace probes would shrink")
