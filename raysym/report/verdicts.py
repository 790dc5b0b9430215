"""Each of Glowacki's findings against this study's numbers, by one stated rule, never by hand.

The rule: a finding is **reproduced** when this study's effect points the paper's way by more than twice
its standard error over seeds, **opposite** when it points the other way by more than twice its standard
error, **not resolved** otherwise (and then the seeds per bias that would resolve an effect of the size
seen are given), and **not measured** when the study lacks the numbers. The one finding that is a null
result, parity in distribution, is reproduced when the ROC-AUC difference is both within twice its
standard error and below 0.01, and opposite when it is beyond both. With one seed per bias there is no
spread, so nothing can be resolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raysym.report import summaries
from raysym.report.selection import StudyRun
from raysym.report.summaries import Effect

REPRODUCED, OPPOSITE, NOT_RESOLVED, NOT_MEASURED = "reproduced", "opposite", "not resolved", "not measured"
#: Significance: an effect counts when it exceeds this many standard errors.
Z = 2.0
#: Parity in distribution: ROC-AUC differences below this are negligible (Glowacki §4.1, Table 1).
PARITY_AUC = 0.01


@dataclass(frozen=True)
class Verdict:
    """One finding of the paper, what this study measured, and the rule's outcome."""

    finding: str
    outcome: str
    detail: str


def _direction(effect: Effect, sign: int) -> tuple[str, str]:
    """The rule for a directional finding: ``sign`` +1 if the paper's finding is b > a, −1 if b < a."""
    if effect.a.n == 0 or effect.b.n == 0:
        return NOT_MEASURED, "no values for one of the two biases"
    numbers = f"difference {effect.diff:+.4g} ± {effect.se:.2g} (SE over seeds, n = {effect.a.n}, {effect.b.n})"
    if effect.a.n < 2 or effect.b.n < 2 or not math.isfinite(effect.se):
        return NOT_RESOLVED, f"difference {effect.diff:+.4g} from one seed: no spread to judge it by"
    if sign * effect.diff > Z * effect.se:
        return REPRODUCED, numbers
    if -sign * effect.diff > Z * effect.se:
        return OPPOSITE, numbers
    needed = effect.seeds_needed()
    more = f"; about {needed} seeds per bias would resolve an effect of this size" if needed else ""
    return NOT_RESOLVED, numbers + more


def _parity(effect: Effect) -> tuple[str, str]:
    if effect.a.n == 0 or effect.b.n == 0:
        return NOT_MEASURED, "no values for one of the two biases"
    numbers = f"ROC-AUC difference {effect.diff:+.4f} ± {effect.se:.2g} (SE, n = {effect.a.n}, {effect.b.n})"
    if effect.a.n < 2 or effect.b.n < 2:
        return NOT_RESOLVED, f"ROC-AUC difference {effect.diff:+.4f} from one seed: no spread to judge it by"
    small, insignificant = abs(effect.diff) < PARITY_AUC, abs(effect.diff) <= Z * effect.se
    if small and insignificant:
        return REPRODUCED, numbers
    if not small and not insignificant:
        return OPPOSITE, numbers
    return NOT_RESOLVED, numbers


def verdicts(run: StudyRun) -> list[Verdict]:
    """The paper's findings, unconstrained (a) against constrained (b), each with its outcome."""
    a, b = summaries.paper_biases(run)
    found = []

    def add(finding: str, tables: tuple[str, ...], compute) -> None:
        if a is None or b is None:
            found.append(Verdict(finding, NOT_MEASURED, "the study lacks the unconstrained teacher or SEAL λ = 0.1"))
        elif not run.has(*tables):
            found.append(Verdict(finding, NOT_MEASURED, f"no {', '.join(t for t in tables if not run.has(t))} table"))
        else:
            found.append(Verdict(finding, *compute()))

    def evaluation(task: str) -> Effect:
        rows = run.table("evaluations")
        return summaries.effect(rows[rows["task"] == task], "roc_auc", a, b)

    add("Parity in distribution: SEAL costs no g vs W ROC-AUC (Table 1)", ("evaluations",),
        lambda: _parity(evaluation("g_vs_w")))
    add("Lower curvature: λ1 smaller with SEAL (Table 2)", ("hessian",),
        lambda: _direction(summaries.effect(summaries.curvature(run), "lambda1", a, b), -1))
    add("Lower curvature: Tr(H) smaller with SEAL (Table 2)", ("hessian",),
        lambda: _direction(summaries.effect(summaries.curvature(run), "trace", a, b), -1))
    add("Pseudo-Goldstone flatness: the loss rises less along ν1 with SEAL (Fig. 5)", ("goldstone",),
        lambda: _direction(_along_nu1(run, a, b), -1))
    add("Robustness: SEAL loses less ROC-AUC under pT smearing (Fig. 7)", ("smearing",),
        lambda: _direction(summaries.effect(summaries.smearing_drop(run), "drop", a, b), -1))
    add("Out of distribution: higher g vs Z ROC-AUC with SEAL (Table 3)", ("evaluations",),
        lambda: _direction(evaluation("g_vs_z"), +1))
    add("Out of distribution: higher g vs top ROC-AUC with SEAL (Table 3)", ("evaluations",),
        lambda: _direction(evaluation("g_vs_t"), +1))
    add("Compressibility: the SEAL teacher distils to a lower MSE (Fig. 9)", ("students",),
        lambda: _direction(summaries.effect(run.table("students"), "final_val_mse", a, b), -1))
    return found


def _along_nu1(run: StudyRun, a: str, b: str) -> Effect:
    rises = summaries.goldstone_rise(run)
    return summaries.effect(rises[rises["direction"] == "nu1"], "rise", a, b)
