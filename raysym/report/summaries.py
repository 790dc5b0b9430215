"""The numbers of a study run that the paper reports, and their uncertainties, from the store's rows.

Every quantity is first computed per trial (per student for distillation) and then summarised over the
seeds of a bias as its mean and a 95 % t interval of that mean (Glowacki reports mean ± std over three
seeds, §3.3; with two or three seeds a standard deviation says little, an interval says how little).
:func:`per_seed` gives the values by seed that the verdicts compare (docs/methods.md §8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from raysym.report import paper
from raysym.report.selection import StudyRun

#: Signal efficiencies at which the report quotes background rejection 1/ε_B (as ParticleNet and ParT do).
WORKING_POINTS = (0.3, 0.5)
#: Fewer background jets than this passing a cut leave its rejection a count, not a measurement: the Poisson
#: error of the count is then above 1/√10 ≈ 30 %.
FEW_JETS = 10
#: Correlations from fewer points than this are labelled as such.
FEW_POINTS = 10


def number(value: float, digits: int = 4, style: str = "f", sign: bool = False) -> str:
    """``value`` with ``digits`` decimals (``style`` "f") or significant digits ("g"), in scientific notation
    when it is non-zero and below 1e-3 in size (a small value never reads 0.0000); "—" for NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    plus = "+" if sign else ""
    if math.isinf(value):
        return ("+" if sign and value > 0 else "-" if value < 0 else "") + "∞"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:{plus}.{max(digits - 2, 1)}e}"
    return f"{value:{plus}.{digits}{style}}"


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

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The t interval of the mean, mean ± t_{(1+level)/2, n−1} · SE (NaN with fewer than two values)."""
        if self.n < 2:
            return math.nan, math.nan
        half = float(stats.t.ppf((1 + level) / 2, self.n - 1)) * self.se
        return self.mean - half, self.mean + half

    def text(self, digits: int = 4, style: str = "f") -> str:
        """``mean [low, high]``, the 95 % t interval of the mean over seeds (one seed: the value alone), with
        ``digits`` decimals (``style`` "f") or significant digits ("g")."""
        if self.n == 0:
            return "—"
        if self.n == 1:
            return number(self.mean, digits, style)
        low, high = self.interval()
        return f"{number(self.mean, digits, style)} [{number(low, digits, style)}, {number(high, digits, style)}]"


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


def _background(run: StudyRun) -> pd.Series:
    """Background jets in the test set per (trial_id, task), from the evaluations table (empty where it does
    not record them: rows written before the count was)."""
    if not run.has("evaluations") or "n_background" not in run.table("evaluations"):
        return pd.Series(dtype=float)
    rows = run.table("evaluations").dropna(subset=["n_background"])
    return rows.drop_duplicates(["trial_id", "task"]).set_index(["trial_id", "task"])["n_background"]


def rejection_at(curve: pd.DataFrame, efficiency: float) -> tuple[float, float]:
    """(1/ε_B, ε_B) of one ROC curve at signal efficiency ε_S: the first point reaching ε_S (the lowest-ε_B
    cut with that efficiency); 1/ε_B is inf when no background is left, both NaN when ε_S is never reached."""
    reached = curve[curve["tpr"] >= efficiency].sort_values(["tpr", "fpr"])
    if reached.empty:
        return math.nan, math.nan
    fpr = float(reached["fpr"].iloc[0])
    return (math.inf if fpr == 0 else 1.0 / fpr), fpr


def rejections(run: StudyRun, points=WORKING_POINTS) -> pd.DataFrame:
    """Per trial, task and ε_S: background rejection 1/ε_B, the test set's background jets ``n_background``
    and how many of them pass the cut, ``passing`` = ε_B · n_background (NaN where the count is not stored)."""
    background = _background(run)
    rows = []
    for (bias, trial, task), curve in run.table("roc").groupby(["bias", "trial_id", "task"]):
        total = float(background.get((trial, task), math.nan))
        for eff in points:
            rejection, fpr = rejection_at(curve, eff)
            rows.append({"bias": bias, "trial_id": trial, "task": task, "efficiency": eff, "rejection": rejection,
                         "n_background": total, "passing": round(fpr * total) if math.isfinite(fpr * total)
                         else math.nan})
    return pd.DataFrame(rows)


def rejection_text(part: pd.DataFrame, digits: int = 1) -> str:
    """One cell of rejections over seeds: the mean and its interval when every seed's cut passes at least
    :data:`FEW_JETS` background jets; otherwise each seed's value with the counts beside them: "≥ N" where no
    background jet passes (N background jets in the test set: no cut it can show rejects more) and "~" before
    the value where fewer than 10 pass."""
    counts = part["passing"]
    if counts.isna().any():  # the test set's background count is not stored
        if np.isinf(part["rejection"]).any():
            return ", ".join(number(r, digits) for r in part["rejection"]) + " (∞: no background jet passes)"
        return Spread.of(part["rejection"]).text(digits)
    if (counts >= FEW_JETS).all():
        return Spread.of(part["rejection"]).text(digits)
    shown = [f"≥ {int(total)}" if k == 0 else f"~{r:.{digits}f}" if k < FEW_JETS else f"{r:.{digits}f}"
             for r, k, total in zip(part["rejection"], counts, part["n_background"])]
    totals = sorted({int(t) for t in part["n_background"]})
    of = f" of {totals[0]}" if len(totals) == 1 else ""
    return f"{', '.join(shown)} ({', '.join(str(int(k)) for k in counts)}{of} background jets pass)"


def curvature(run: StudyRun) -> pd.DataFrame:
    """Per trial: λ1, Tr(H) and the trace's standard error."""
    hessian = run.table("hessian")
    top = hessian[hessian["k"] == 1]
    columns = ["bias", "trial_id", *_seed(top), "lam", "penalty", "lambda1", "trace", "trace_stderr"]
    return top.rename(columns={"eigenvalue": "lambda1"})[columns]


def _seed(frame: pd.DataFrame) -> list[str]:
    """["seed"] when the rows carry their trial's seed, which pairs the biases' trials (docs/methods.md §8)."""
    return ["seed"] if "seed" in frame else []


def trace_noise(run: StudyRun, biases: tuple[str, str]) -> tuple[float, float, float] | None:
    """(mean Hutchinson standard error of Tr(H) over both biases' trials, the larger of the two biases'
    standard deviations of Tr(H) over seeds, |difference of their mean Tr(H)|), or None without a Hessian.
    The seed spread already contains the estimator's error; this says how much of it that is."""
    if not run.has("hessian"):
        return None
    rows = curvature(run)
    rows = rows[rows["bias"].isin(biases)]
    if rows.empty:
        return None
    spreads_ = [Spread.of(rows.loc[rows["bias"] == bias, "trace"]) for bias in biases]
    sds = [s.sd for s in spreads_ if s.n > 1]
    return (float(rows["trace_stderr"].mean()), max(sds) if sds else math.nan,
            abs(spreads_[1].mean - spreads_[0].mean))


def goldstone_rise(run: StudyRun) -> pd.DataFrame:
    """Per trial and direction: the loss rise from ε = 0 to the ends of the grid (the mean of ±ε_max),
    and the largest |R(ε) − 1| on the grid. Flat along ν1 means a small rise (Glowacki Fig. 5)."""
    rows = []
    scans = run.table("goldstone")
    for keys, scan in scans.groupby(["bias", "trial_id", "direction", *_seed(scans)]):
        edge = scan["epsilon"].abs().max()
        at_zero = float(scan.loc[scan["epsilon"] == 0, "loss"].iloc[0])
        rise = float(scan.loc[scan["epsilon"].abs() == edge, "loss"].mean()) - at_zero
        rows.append({**dict(zip(["bias", "trial_id", "direction", "seed"], keys)), "epsilon_max": edge,
                     "rise": rise, "r_deviation": float((scan["r_mean"] - 1).abs().max())})
    return pd.DataFrame(rows)


def smearing_drop(run: StudyRun) -> pd.DataFrame:
    """Per trial: the ROC-AUC lost between σ = 0 and the largest σ of the sweep (Glowacki Fig. 7)."""
    rows = []
    sweeps = run.table("smearing")
    for keys, sweep in sweeps.groupby(["bias", "trial_id", *_seed(sweeps)]):
        lowest, highest = sweep.loc[sweep["sigma"].idxmin()], sweep.loc[sweep["sigma"].idxmax()]
        rows.append({**dict(zip(["bias", "trial_id", "seed"], keys)), "sigma_max": float(highest["sigma"]),
                     "drop": float(lowest["roc_auc"] - highest["roc_auc"])})
    return pd.DataFrame(rows)


def per_seed(rows: pd.DataFrame, value: str, bias: str) -> pd.Series:
    """``value`` of one bias by seed (the index), finite values only: the mean of a seed's rows, so several
    students of one teacher count once, as the teacher's seed (they share its training, so they are not
    independent draws). Rows without a seed column count each trial as its own seed."""
    rows = rows[rows["bias"] == bias]
    key = "seed" if "seed" in rows else "trial_id"
    values = pd.to_numeric(rows[value], errors="coerce")
    return values[np.isfinite(values)].groupby(rows[key]).mean().sort_index()


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
    """Per trial id: the task it was trained on (its data set's in-distribution task without a trials table)."""
    if run.has("trials") and "task" in run.table("trials"):
        return run.table("trials").drop_duplicates("trial_id").set_index("trial_id")["task"]
    trials = run.trajectory("evaluations")["trial_id"].unique()
    return pd.Series(run.dataset.by_role("in")[0].name, index=pd.Index(trials, name="trial_id"), name="task")


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


def correlation_text(rho: float, n: int, symbol: str = "ρ") -> str:
    """``ρ = −0.52 (n = 36)``, ``ρ = −1.00 (n = 8, fewer than 10 points)``, or ``ρ = — (n = 2, fewer than 10
    points)`` when there is no ρ: a correlation of few points is mostly noise, and says so."""
    shown = "—" if math.isnan(rho) else f"{rho:+.2f}".replace("-", "−")
    few = f", fewer than {FEW_POINTS} points" if n < FEW_POINTS else ""
    return f"{symbol} = {shown} (n = {n}{few})"


def symmetry_violation(run: StudyRun, transform: str = "boost", trajectory: bool = False) -> pd.DataFrame:
    """Per trial (and analysed epoch, with ``trajectory``): the mean violation |σ(f(x)) − σ(f(Λx))| over every
    (jet, transformation) pair of kind ``transform`` (docs/methods.md §6.8), i.e. the bins' means weighted by
    their pairs, ``n_transforms`` (by their jets where that is not stored); and whether the weights are the
    best model's (and the trial's seed, where the rows carry it)."""
    rows = run.trajectory("symmetry") if trajectory else run.table("symmetry")
    rows = rows[rows["transform"] == transform]
    weight = rows["n_transforms"] if "n_transforms" in rows else rows["n_jets"]
    rows = rows.assign(weighted=rows["mean"].where(weight > 0, 0.0) * weight, weight=weight)  # empty bins: NaN
    grouped = rows.groupby(["bias", "trial_id", *_seed(rows), "epoch", "best"], as_index=False)[
        ["weighted", "weight"]].sum()
    return grouped.assign(violation=grouped["weighted"] / grouped["weight"]).drop(columns=["weighted", "weight"])
