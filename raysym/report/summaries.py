"""The numbers of a study run that the paper reports, and their uncertainties, from the store's rows.

Every quantity is first computed per trial (per student for distillation) and then summarised over the
seeds of a bias as mean, sample standard deviation and count; differences and ratios between two biases
carry the standard error that follows from those (Glowacki reports mean ± std over three seeds, §3.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from raysym.report import paper
from raysym.report.selection import StudyRun

#: Signal efficiencies at which the report quotes background rejection 1/ε_B (as ParticleNet and ParT do).
WORKING_POINTS = (0.3, 0.5)


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (NaN for one value) and count of a quantity over seeds."""

    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, values) -> "Spread":
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if not len(values):
            return cls(math.nan, math.nan, 0)
        return cls(float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan, len(values))

    @property
    def se(self) -> float:
        """Standard error of the mean (NaN with fewer than two values)."""
        return self.sd / math.sqrt(self.n) if self.n > 1 else math.nan

    def text(self, digits: int = 4, style: str = "f") -> str:
        """``mean ± sd`` with ``digits`` decimals (``style`` "f") or significant digits ("g")."""
        if self.n == 0:
            return "—"
        spread = "" if math.isnan(self.sd) else f" ± {self.sd:.{digits}{style}}"
        return f"{self.mean:.{digits}{style}}{spread}"


@dataclass(frozen=True)
class Effect:
    """``b − a`` of two biases' means, its standard error, and the seeds per bias that would make an effect
    of this size twice its standard error."""

    a: Spread
    b: Spread

    @property
    def diff(self) -> float:
        return self.b.mean - self.a.mean

    @property
    def se(self) -> float:
        return math.sqrt(self.a.se ** 2 + self.b.se ** 2)

    @property
    def z(self) -> float:
        return self.diff / self.se if self.se > 0 else math.nan

    def seeds_needed(self) -> int | None:
        """Seeds per bias for |diff| > 2 SE, with these spreads: n > 4 (sd_a² + sd_b²) / diff²."""
        if self.a.n < 2 or self.b.n < 2 or self.diff == 0 or not math.isfinite(self.diff):
            return None
        return max(2, math.ceil(4 * (self.a.sd ** 2 + self.b.sd ** 2) / self.diff ** 2))


def spreads(frame: pd.DataFrame, value: str, by: tuple[str, ...] = ("bias",)) -> pd.DataFrame:
    """``value`` summarised over rows per group: columns ``by`` + mean, sd, n, se, spread (a Spread)."""
    rows = []
    for group, part in frame.groupby(list(by), sort=True):
        spread = Spread.of(part[value])
        group = group if isinstance(group, tuple) else (group,)
        rows.append({**dict(zip(by, group)), "mean": spread.mean, "sd": spread.sd, "n": spread.n, "se": spread.se,
                     "spread": spread})
    return pd.DataFrame(rows)


def paper_biases(run: StudyRun) -> tuple[str | None, str | None]:
    """(unconstrained, constrained) bias names as Glowacki defines them (teacher without penalty; teacher
    with SEAL at λ = 0.1), or None where the study lacks one."""
    if not run.has("trials"):
        return None, None
    trials = run.table("trials")

    def find(spec: dict) -> str | None:
        match = trials[(trials["model"] == spec["model"]) & (trials["penalty"] == spec["penalty"])]
        if "lam" in spec:
            match = match[np.isclose(match["lam"], spec["lam"])]
        return str(sorted(match["bias"])[0]) if len(match) else None

    return find(paper.UNCONSTRAINED), find(paper.CONSTRAINED)


def performance(run: StudyRun) -> pd.DataFrame:
    """Per bias, task and metric (accuracy, roc_auc): the spread over seeds."""
    long = run.table("evaluations").melt(id_vars=["bias", "trial_id", "task"], value_vars=["accuracy", "roc_auc"],
                                         var_name="metric")
    return spreads(long, "value", ("bias", "task", "metric"))


def rejection_at(curve: pd.DataFrame, efficiency: float) -> float:
    """1/ε_B of one ROC curve at signal efficiency ε_S: the first point reaching ε_S (the lowest-ε_B cut
    with that efficiency), inf when it has no background left."""
    reached = curve[curve["tpr"] >= efficiency].sort_values(["tpr", "fpr"])
    if reached.empty:
        return math.nan
    fpr = float(reached["fpr"].iloc[0])
    return math.inf if fpr == 0 else 1.0 / fpr


def rejections(run: StudyRun, points=WORKING_POINTS) -> pd.DataFrame:
    """Per trial, task and ε_S: background rejection 1/ε_B."""
    rows = [{"bias": bias, "trial_id": trial, "task": task, "efficiency": eff, "rejection": rejection_at(curve, eff)}
            for (bias, trial, task), curve in run.table("roc").groupby(["bias", "trial_id", "task"])
            for eff in points]
    return pd.DataFrame(rows)


def curvature(run: StudyRun) -> pd.DataFrame:
    """Per trial: λ1, Tr(H) and the trace's standard error."""
    hessian = run.table("hessian")
    top = hessian[hessian["k"] == 1]
    return top.rename(columns={"eigenvalue": "lambda1"})[["bias", "trial_id", "lam", "penalty", "lambda1", "trace",
                                                          "trace_stderr"]]


def curvature_ratio(rows: pd.DataFrame, quantity: str, constrained: str, unconstrained: str) -> tuple[float, float]:
    """(ratio constrained / unconstrained of the mean of ``quantity``, its standard error).

    Each mean's error is the standard error over seeds; for Tr(H) the Hutchinson standard errors of the
    seeds' estimates are added in quadrature (σ²_mean = sd²/n + Σ se_i²/n²), then the relative errors of
    the two means are combined.
    """
    def mean_and_error(bias: str) -> tuple[float, float]:
        values = rows[rows["bias"] == bias]
        spread = Spread.of(values[quantity])
        variance = spread.sd ** 2 / spread.n if spread.n > 1 else 0.0
        if quantity == "trace":
            variance += float((values["trace_stderr"] ** 2).sum()) / spread.n ** 2
        return spread.mean, math.sqrt(variance) if variance > 0 else math.nan

    (c, c_err), (u, u_err) = mean_and_error(constrained), mean_and_error(unconstrained)
    ratio = c / u
    return ratio, abs(ratio) * math.sqrt((c_err / c) ** 2 + (u_err / u) ** 2)


def goldstone_rise(run: StudyRun) -> pd.DataFrame:
    """Per trial and direction: the loss rise from ε = 0 to the ends of the grid (the mean of ±ε_max),
    and the largest |R(ε) − 1| on the grid. Flat along ν1 means a small rise (Glowacki Fig. 5)."""
    rows = []
    for (bias, trial, direction), scan in run.table("goldstone").groupby(["bias", "trial_id", "direction"]):
        edge = scan["epsilon"].abs().max()
        at_zero = float(scan.loc[scan["epsilon"] == 0, "loss"].iloc[0])
        rise = float(scan.loc[scan["epsilon"].abs() == edge, "loss"].mean()) - at_zero
        rows.append({"bias": bias, "trial_id": trial, "direction": direction, "epsilon_max": edge, "rise": rise,
                     "r_deviation": float((scan["r_mean"] - 1).abs().max())})
    return pd.DataFrame(rows)


def smearing_drop(run: StudyRun) -> pd.DataFrame:
    """Per trial: the ROC-AUC lost between σ = 0 and the largest σ of the sweep (Glowacki Fig. 7)."""
    rows = []
    for (bias, trial), sweep in run.table("smearing").groupby(["bias", "trial_id"]):
        lowest, highest = sweep.loc[sweep["sigma"].idxmin()], sweep.loc[sweep["sigma"].idxmax()]
        rows.append({"bias": bias, "trial_id": trial, "sigma_max": float(highest["sigma"]),
                     "drop": float(lowest["roc_auc"] - highest["roc_auc"])})
    return pd.DataFrame(rows)


def effect(rows: pd.DataFrame, value: str, a: str, b: str) -> Effect:
    """``b − a`` of ``value`` between two biases' rows."""
    return Effect(Spread.of(rows.loc[rows["bias"] == a, value]), Spread.of(rows.loc[rows["bias"] == b, value]))
