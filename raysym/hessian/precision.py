"""Tr(H) to a stated precision: add probes until the relative standard error reaches a target, or a cap.

A fixed probe count gives whatever precision the spectrum allows; the paper-size teacher's Hutchinson
estimate had a 24 % standard error after 120 probes (bench/results/hessian.md). A study should instead
state the precision it wants (``trace_rel_stderr``) and spend what that costs, up to a cap, and say which
of the two ended the estimate. :func:`precision_reached` is the rule, pure, for a stage that adds probe
groups as Ray tasks between checks; :func:`trace_to_precision` is the same loop in one process.

How each method grows (docs/methods.md §6.2):

- Hutchinson, plain or deflated: its probes are independent, so groups of ``group_size`` probes are
  added to the ones already computed, and merged by :func:`~raysym.hessian.trace.combine`.
- Hutch++ and XTrace: a larger budget changes the sketch, so the estimator reruns with twice the budget
  (``group_size`` first); every HVP of every run is counted. The last run that fits under the cap is
  the one returned.

The rule trusts each method's own standard error, which for Hutch++ covers only its random part and for
XTrace is a heuristic (the leave-one-out estimates are not independent): bench/trace_precision.py checks
the reached estimates against a reference trace.
"""

from __future__ import annotations

import math

from raysym.errors import ConfigError, positive_int
from raysym.hessian.closure import LossClosure
from raysym.hessian.deflation import Deflation
from raysym.hessian.hvp import HessianOperator, as_operator
from raysym.hessian.results import TraceEstimate
from raysym.hessian.trace import combine, hutch_plus_plus, hutchinson_samples
from raysym.hessian.xtrace import xtrace

METHODS = ("hutchinson", "deflated-hutchinson", "hutch++", "xtrace")
#: The smallest budget each method can run with (XTrace needs two test vectors for its error estimate).
MINIMUM_BUDGET = {"hutchinson": 2, "deflated-hutchinson": 2, "hutch++": 3, "xtrace": 4}


def _check_target(rel_stderr) -> float:
    if isinstance(rel_stderr, bool) or not isinstance(rel_stderr, (int, float)) or not 0 < rel_stderr < math.inf:
        raise ConfigError(f"the relative standard error to reach must be a positive number, got {rel_stderr!r}")
    return float(rel_stderr)


def precision_reached(estimate: TraceEstimate, rel_stderr: float) -> bool:
    """|standard error / trace| ≤ ``rel_stderr`` (False while the error is unknown, e.g. one probe)."""
    target = _check_target(rel_stderr)
    se, trace = estimate.standard_error, estimate.trace
    if not math.isfinite(se) or not math.isfinite(trace):
        return False
    if trace == 0.0:
        return se == 0.0
    return abs(se / trace) <= target


def trace_to_precision(source: LossClosure | HessianOperator, method: str = "hutchinson", rel_stderr: float = 0.05,
                       group_size: int = 8, max_probes: int = 256, seed: int = 0,
                       deflation: Deflation | None = None) -> TraceEstimate:
    """Tr(H) by ``method`` until its relative standard error is ≤ ``rel_stderr`` or ``max_probes`` HVPs are spent.

    ``method`` is one of :data:`METHODS`; "deflated-hutchinson" needs ``deflation`` (and only it takes
    one). ``n_hvp`` counts every HVP spent (all reruns of Hutch++/XTrace; not the Lanczos run that built
    the deflation). ``extra["stop"]`` is "precision" or "cap", ``extra["target"]`` the target and
    ``extra["budgets"]`` the HVPs of each group or run.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {METHODS}, got {method!r}")
    target = _check_target(rel_stderr)
    positive_int("group_size", group_size)
    positive_int("max_probes", max_probes)
    if (method == "deflated-hutchinson") != (deflation is not None):
        raise ConfigError("method 'deflated-hutchinson' needs a deflation, and only it takes one "
                          f"(method {method!r}, deflation {'given' if deflation is not None else 'None'})")
    minimum = MINIMUM_BUDGET[method]
    if max_probes < minimum:
        raise ConfigError(f"max_probes = {max_probes} is below the {minimum} HVPs method {method!r} needs")
    if method in ("hutch++", "xtrace") and group_size < minimum:
        raise ConfigError(f"method {method!r} starts from a budget of group_size HVPs, at least {minimum}; "
                          f"got group_size = {group_size}")
    op = as_operator(source)
    start_hvp = op.n_hvp
    budgets: list[int] = []
    if method in ("hutchinson", "deflated-hutchinson"):
        groups = []
        done = 0
        while True:
            count = min(group_size, max_probes - done)
            groups.append(hutchinson_samples(op, range(done, done + count), seed, deflation))
            done += count
            budgets.append(count)
            estimate = combine(groups)
            if precision_reached(estimate, target) or done >= max_probes:
                break
    else:
        run = hutch_plus_plus if method == "hutch++" else xtrace
        budget, seconds = min(group_size, max_probes), 0.0
        while True:
            estimate = run(op, n_hvp=budget, seed=seed)
            budgets.append(estimate.n_hvp)
            seconds += estimate.seconds
            spent = op.n_hvp - start_hvp
            budget = min(2 * budget, max_probes - spent)
            if precision_reached(estimate, target) or budget < minimum:
                break
        estimate.seconds = seconds
    estimate.n_hvp = op.n_hvp - start_hvp
    estimate.extra.update(stop="precision" if precision_reached(estimate, target) else "cap", target=target,
                          budgets=budgets)
    return estimate
