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


# Over the training trajectory: every analysed epoch of each trial (StudyRun.trajectories).

def curvature_trajectory(run: StudyRun) -> pd.DataFrame:
    """Per trial and analysed epoch: λ1, Tr(H), the trace's standard error and whether it is the best model."""
    hessian = run.trajectory("hessian")
    top = hessian[hessian["k"] == 1]
    return top.rename(columns={"eigenvalue": "lambda1"})[["bias", "trial_id", "epoch", "best", "lambda1", "trace",
                                                          "trace_stderr"]].sort_values(["trial_id", "epoch"])


def lambda1_over_training(run: StudyRun) -> pd.DataFrame:
    """Per trial: λ1 at the first kept epoch, at the best model's epoch and at the last kept epoch (columns
    first, best, last) and those epochs (first_epoch, best_epoch, last_epoch); NaN where the best model's
    Hessian is missing."""
    rows = []
    for (bias, trial), part in curvature_trajectory(run).groupby(["bias", "trial_id"], sort=True):
        part = part.sort_values("epoch")
        best = part[part["best"]]
        rows.append({"bias": bias, "trial_id": trial,
                     "first_epoch": part["epoch"].iloc[0], "first": float(part["lambda1"].iloc[0]),
                     "best_epoch": best["epoch"].iloc[0] if len(best) else math.nan,
                     "best": float(best["lambda1"].iloc[0]) if len(best) else math.nan,
                     "last_epoch": part["epoch"].iloc[-1], "last": float(part["lambda1"].iloc[-1])})
    return pd.DataFrame(rows)


def training_tasks(run: StudyRun) -> pd.Series:
    """Per trial id: the task it was trained on (its in-distribution task; g vs W without a trials table)."""
    if run.has("trials") and "task" in run.table("trials"):
        return run.table("trials").drop_duplicates("trial_id").set_index("trial_id")["task"]
    trials = run.trajectory("evaluations")["trial_id"].unique()
    return pd.Series("g_vs_w", index=pd.Index(trials, name="trial_id"), name="task")


def flatness_points(run: StudyRun) -> pd.DataFrame:
    """Per trial and analysed epoch with both a Hessian and a test evaluation: λ1, Tr(H) and the test ROC-AUC
    on the trial's own training task (in distribution), and whether the weights are the best model's."""
    evaluations = run.trajectory("evaluations")
    if "split" in evaluations and (evaluations["split"] == "test").any():
        evaluations = evaluations[evaluations["split"] == "test"]
    own = evaluations["task"] == evaluations["trial_id"].map(training_tasks(run))
    scores = evaluations.loc[own, ["trial_id", "epoch", "task", "roc_auc"]]
    return curvature_trajectory(run).merge(scores, on=["trial_id", "epoch"], how="inner")


def spearman(x, y) -> tuple[float, int]:
    """Spearman's rank correlation ρ of two equally long sequences (the Pearson correlation of their average
    ranks, so ties share a rank) and the number of pairs with both values finite. NaN with fewer than three
    pairs (two points are always ρ = ±1) or when either sequence is constant."""
    pairs = pd.DataFrame({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)})
    pairs = pairs[np.isfinite(pairs["x"]) & np.isfinite(pairs["y"])]
    if len(pairs) < 3 or pairs["x"].nunique() < 2 or pairs["y"].nunique() < 2:
        return math.nan, len(pairs)
    return float(pairs["x"].rank().corr(pairs["y"].rank())), len(pairs)


def flatness_correlation(run: StudyRun, bias: str | None = None) -> tuple[float, int]:
    """(Spearman's ρ between λ1 and the in-distribution test ROC-AUC, number of points) over every analysed
    (trial, epoch) of the run, or of one bias. ρ < 0: flatter weights (smaller λ1) score higher. Epochs of
    one trial are not independent draws, so ρ describes the study's points; it is not a test."""
    points = flatness_points(run)
    if bias is not None:
        points = points[points["bias"] == bias]
    return spearman(points["lambda1"], points["roc_auc"])


def correlation_text(rho: float, n: int) -> str:
    """``ρ = −0.52 (n = 36)``, or ``ρ = — (n = 2)`` when there is no ρ."""
    shown = "—" if math.isnan(rho) else f"{rho:+.2f}".replace("-", "−")
    return f"ρ = {shown} (n = {n})"


def symmetry_violation(run: StudyRun, transform: str = "boost", trajectory: bool = False) -> pd.DataFrame:
    """Per trial (and analysed epoch, with ``trajectory``): the mean violation |σ(f(x)) − σ(f(Λx))| over every
    (jet, transformation) pair of kind ``transform`` (docs/methods.md §6.8), i.e. the bins' means weighted by
    their pairs, ``n_transforms`` (by their jets where that is not stored); and whether the weights are the
    best model's."""
    rows = run.trajectory("symmetry") if trajectory else run.table("symmetry")
    rows = rows[rows["transform"] == transform]
    weight = rows["n_transforms"] if "n_transforms" in rows else rows["n_jets"]
    rows = rows.assign(weighted=rows["mean"].where(weight > 0, 0.0) * weight, weight=weight)  # empty bins: NaN
    grouped = rows.groupby(["bias", "trial_id", "epoch", "best"], as_index=False)[["weighted", "weight"]].sum()
    return grouped.assign(violation=grouped["weighted"] / grouped["weight"]).drop(columns=["weighted", "weight"])
