"""The study's figures, drawn with seaborn from one run's rows (docs/methods.md §6; Glowacki Figs. 4–9).

One style for all: seaborn's white grid, its colour-blind-safe palette with one fixed colour per bias
across every figure, axis labels with their symbols and units, legends naming bias and λ. Lines are the
mean over seeds (the median seed for ROC curves) with a band from the lowest to the highest seed. Each
figure function returns a matplotlib ``Figure``; :data:`FIGURES` says which tables each one needs, so a
missing table skips its figure instead of drawing an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.figure import Figure
import pandas as pd
import seaborn as sns

from raysym.report import summaries
from raysym.report.drawing import BAND, palette, panels, shared_legend, themed  # noqa: F401
from raysym.report.selection import StudyRun
from raysym.stages.analysis_registry import registered
from raysym.report.sequential_figures import looks_figure, measured
from raysym.report.trajectory_figures import (flatness_auc, symmetry, symmetry_caption, symmetry_measured,
                                              trajectory_curvature)


def roc_tasks(run: StudyRun) -> list[str]:
    """The tasks the ROC figure has a panel for, in the order the data set declares them."""
    present = set(run.table("roc")["task"])
    return [t.name for t in run.dataset.tasks if t.name in present]


def statistics_limit(run: StudyRun, task: str) -> float | None:
    """The rejection 1/ε_B above which fewer than :data:`summaries.FEW_JETS` background jets of the task's test
    set pass (the smallest test set over trials), or None where the count is not stored."""
    if not run.has("evaluations") or "n_background" not in run.table("evaluations"):
        return None
    rows = run.table("evaluations")
    counts = rows.loc[rows["task"] == task, "n_background"].dropna()
    return float(counts.min()) / summaries.FEW_JETS if len(counts) and counts.min() > 0 else None


def _mark_statistics(ax, limit: float | None) -> None:
    """Shade where a cut passes fewer than 10 background jets: there a curve is a count, not a measurement."""
    bottom, top = ax.get_ylim()
    if limit is None or not bottom < limit < top:  # no curve reaches it
        return
    ax.axhline(limit, color="0.35", linestyle=":", linewidth=1)
    ax.axhspan(limit, top, color="0.5", alpha=0.12, linewidth=0)
    ax.set_ylim(bottom, top)
    ax.annotate(f"< {summaries.FEW_JETS} background jets pass", (0.02, limit), xycoords=("axes fraction", "data"),
                textcoords="offset points", xytext=(0, 3), fontsize="x-small", color="0.3")


def roc_curves(run: StudyRun) -> Figure:
    """Background rejection 1/ε_B against signal efficiency ε_S per task (Glowacki Figs. 4 and 8): the
    median-AUC seed's curve per bias, the band spanning every seed, and shaded above the rejection where
    fewer than 10 background jets pass: there the statistics run out."""
    colours, roc, evaluations = palette(run), run.table("roc"), run.table("evaluations")
    tasks = roc_tasks(run)
    fig, axes = panels(len(tasks))
    grid = np.linspace(0.05, 1.0, 96)
    for ax, task in zip(axes, tasks):
        for bias, part in roc[roc["task"] == task].groupby("bias", sort=True):
            aucs = evaluations[(evaluations["task"] == task) & (evaluations["bias"] == bias)].sort_values("roc_auc")
            median = aucs["trial_id"].iloc[(len(aucs) - 1) // 2] if len(aucs) else part["trial_id"].iloc[0]
            curves = []
            for _, curve in part.groupby("trial_id"):
                curve = curve.sort_values(["tpr", "fpr"])
                fpr = np.interp(grid, curve["tpr"], curve["fpr"])
                curves.append(np.divide(1.0, fpr, out=np.full_like(fpr, np.nan), where=fpr > 0))  # no background left
            if len(curves) > 1:
                ax.fill_between(grid, np.min(curves, axis=0), np.max(curves, axis=0), color=colours[bias], alpha=0.2,
                                linewidth=0)
            line = part[(part["trial_id"] == median) & (part["fpr"] > 0)].sort_values(["tpr", "fpr"])
            ax.plot(line["tpr"], 1 / line["fpr"], color=colours[bias], label=bias)
        ax.set_yscale("log")
        ax.set(xlabel="signal efficiency ε_S", ylabel="background rejection 1/ε_B", title=run.task_title(task),
               xlim=(0, 1))
        _mark_statistics(ax, statistics_limit(run, task))
    shared_legend(fig, axes)
    return fig


def roc_caption(run: StudyRun) -> str:
    """What the ROC figure shows for this run: its tasks, and the shading where it has the counts."""
    tasks = roc_tasks(run)
    inside = {t.name for t in run.dataset.by_role("in")}
    where = ("in and out of distribution" if inside & set(tasks) and len(tasks) > 1 else
             "in distribution" if set(tasks) <= inside else "out of distribution")
    shade = any(statistics_limit(run, task) for task in tasks)
    return (f"ROC curves {where}: {', '.join(run.task_title(t) for t in tasks)} (Glowacki Figs. 4 and 8); the "
            f"median seed's curve, the band spanning every seed" +
            (f"; shaded where fewer than {summaries.FEW_JETS} background jets pass" if shade else ""))


def training_curves(run: StudyRun) -> Figure:
    """Validation loss and ROC-AUC per epoch per bias, mean over seeds with the seed band."""
    colours, epochs = palette(run), run.table("epochs")
    fig, axes = panels(2)
    for ax, (column, label) in zip(axes, (("val_loss", "validation loss (BCE + λ·penalty)"),
                                          ("val_roc_auc", "validation ROC-AUC"))):
        sns.lineplot(data=epochs, x="epoch", y=column, hue="bias", palette=colours, errorbar=BAND, ax=ax)
        ax.set(xlabel="epoch", ylabel=label)
    shared_legend(fig, axes)
    return fig


def goldstone(run: StudyRun) -> Figure:
    """The pseudo-Goldstone scan (Glowacki Figs. 5 and 6): the loss and R(ε) along ν1 (solid) and along a
    random unit direction (dashed), mean over seeds with the seed band."""
    colours, scan = palette(run), run.table("goldstone")
    fig, axes = panels(2)
    for ax, (column, label) in zip(axes, (("loss", "training loss L(θ + εν) (BCE)"),
                                          ("r_mean", "R(ε) = f(x) / f(g·x), mean over jets"))):
        sns.lineplot(data=scan, x="epsilon", y=column, hue="bias", style="direction", palette=colours, errorbar=BAND,
                     style_order=["nu1", "random"], ax=ax)
        ax.set(xlabel="ε (step along the unit direction ν)", ylabel=label)
    shared_legend(fig, axes)
    return fig


def smearing(run: StudyRun) -> Figure:
    """Test ROC-AUC against the pT smearing width σ (Glowacki Fig. 7), mean over seeds with the band."""
    colours, sweep = palette(run), run.table("smearing")
    fig, axes = panels(1, width=5.0)
    sns.lineplot(data=sweep, x="sigma", y="roc_auc", hue="bias", palette=colours, errorbar=BAND, marker="o", ax=axes[0])
    task = run.task_title(str(sweep["task"].iloc[0]))
    axes[0].set(xlabel="pT smearing σ (p′T = pT (1 + σε))", ylabel=f"test ROC-AUC, {task}")
    shared_legend(fig, axes)
    return fig


def distillation(run: StudyRun) -> Figure:
    """The student's validation MSE against its teacher per epoch (Glowacki Fig. 9), mean over teachers and
    student seeds with the band."""
    colours, curves = palette(run), run.table("distillation")
    fig, axes = panels(1, width=5.0)
    sns.lineplot(data=curves, x="epoch", y="val_mse", hue="bias", palette=colours, errorbar=BAND, ax=axes[0])
    axes[0].set(xlabel="distillation epoch", ylabel="validation MSE, (s(x) − t(x))² of the logits", yscale="log")
    shared_legend(fig, axes)
    return fig


def curvature(run: StudyRun) -> Figure:
    """λ1 and Tr(H) per bias (each seed, the trace with its Hutchinson standard error, and the mean with its
    95 % t interval over seeds), and each trial's eigenvalue density from stochastic Lanczos quadrature when
    stored."""
    colours, rows = palette(run), summaries.curvature(run)
    count = 3 if run.has("spectrum") else 2
    fig, axes = panels(count)
    biases = sorted(rows["bias"].unique())
    for ax, (column, label) in zip(axes, (("lambda1", "λ1 (top Hessian eigenvalue)"), ("trace", "Tr(H)"))):
        for x, bias in enumerate(biases):
            part = rows[rows["bias"] == bias]
            errors = part["trace_stderr"] if column == "trace" else None
            ax.errorbar(np.full(len(part), x) + np.linspace(-0.12, 0.12, len(part)), part[column], yerr=errors,
                        fmt="o", color=colours[bias], label=bias, alpha=0.8)
            spread = summaries.Spread.of(part[column])
            if spread.n > 1:  # the mean and its 95 % t interval, as in the report's tables
                low, high = spread.interval()
                ax.errorbar([x + 0.3], [spread.mean], yerr=[[spread.mean - low], [high - spread.mean]], fmt="D",
                            color=colours[bias], capsize=4)
        ax.set_xticks(range(len(biases)), biases, rotation=20, ha="right")
        ax.set(ylabel=label)
    if count == 3:
        spectrum = run.table("spectrum")
        for (bias, trial), curve in spectrum.groupby(["bias", "trial_id"]):
            axes[2].plot(curve["eigenvalue"], curve["density"], color=colours[bias], alpha=0.8, label=bias)
        top = 2 * float(spectrum["density"].max())
        axes[2].set(xlabel="Hessian eigenvalue λ", ylabel="spectral density φ(λ) (SLQ)", yscale="log",
                    ylim=(top * 1e-8, top))  # outliers carry weight ~ 1/n_params
    handles, labels = axes[0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="lower center", ncol=min(len(unique), 4), frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def curvature_caption(run: StudyRun) -> str:
    """What the curvature figure shows for this run: the density panel only where the spectrum is stored."""
    density = " and each trial's Hessian eigenvalue density (SLQ)" if run.has("spectrum") else ""
    return (f"λ1 and Tr(H) per bias: each seed (circles; Tr(H) with its Hutchinson standard error) and the mean "
            f"with its 95 % t interval over seeds (diamonds){density}")


def scanned_penalties(run: StudyRun) -> list[str]:
    """Penalties with at least two distinct λ > 0 among the trials: the studies that get a λ-scan panel."""
    if not run.has("trials"):
        return []
    trials = run.table("trials")
    constrained = trials[trials["lam"] > 0]
    counts = constrained.groupby("penalty")["lam"].nunique()
    return sorted(counts[counts >= 2].index)


def _scan_panels(run: StudyRun) -> list[tuple[str, pd.DataFrame, str]]:
    """The λ-scan's panels, (label, rows with a ``value`` column, name), for the tables the run has."""
    shown: list[tuple[str, pd.DataFrame, str]] = []
    if run.has("evaluations"):
        evaluations = run.table("evaluations")
        for task in (t.name for t in run.dataset.tasks):
            part = evaluations[evaluations["task"] == task]
            if len(part):
                shown.append((f"test ROC-AUC, {run.task_title(task)}", part.rename(columns={"roc_auc": "value"}),
                              task))
    if run.has("hessian"):
        rows = summaries.curvature(run)
        shown.append(("λ1", rows.rename(columns={"lambda1": "value"}), "lambda1"))
        shown.append(("Tr(H)", rows.rename(columns={"trace": "value"}), "trace"))
    if run.has("students"):
        shown.append(("final distillation val MSE", run.table("students").rename(columns={"final_val_mse": "value"}),
                      "mse"))
    return shown


def lambda_scan_caption(run: StudyRun) -> str:
    return "λ scan, against λ on a log axis: " + ", ".join(label for label, _, _ in _scan_panels(run))


def lambda_scan(run: StudyRun) -> Figure:
    """ID and OOD ROC-AUC, λ1, Tr(H) and the final distillation MSE against λ (log axis), one line per
    penalty with the seed band; the unconstrained teacher as a dashed level with its band."""
    penalties = scanned_penalties(run)
    trials = run.table("trials")
    shown = _scan_panels(run)
    fig, axes = panels(len(shown), width=3.6)
    scan_colours = dict(zip(penalties, sns.color_palette("colorblind", len(penalties) + 1)[1:]))
    for ax, (label, frame, _) in zip(axes, shown):
        frame = frame.drop(columns=["lam", "penalty"], errors="ignore").merge(
            trials[["trial_id", "lam", "penalty"]], on="trial_id")
        scan = frame[frame["penalty"].isin(penalties)]
        sns.lineplot(data=scan, x="lam", y="value", hue="penalty", palette=scan_colours, errorbar=BAND, marker="o",
                     ax=ax)
        baseline = frame[frame["penalty"] == "none"]["value"]
        if len(baseline):
            ax.axhline(baseline.mean(), color="0.3", linestyle="--", label="unconstrained")
            ax.axhspan(baseline.min(), baseline.max(), color="0.3", alpha=0.1, linewidth=0)
        ax.set(xscale="log", xlabel="penalty weight λ", ylabel=label)
    shared_legend(fig, axes)
    return fig


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its file name, the tables it needs, what it shows, the function that draws it, and whether
    it applies to a run at all (``when``, asked first: a figure that does not apply is left out without a
    word, one that applies but lacks a table is skipped with a line naming it). ``describe``, where the
    panels depend on the run, gives the caption of what this run's figure shows (``caption`` says it in
    general)."""

    name: str
    tables: tuple[str, ...]
    caption: str
    draw: Callable[[StudyRun], Figure]
    when: Callable[[StudyRun], bool] = lambda run: True
    describe: Callable[[StudyRun], str] | None = None

    def caption_for(self, run: StudyRun) -> str:
        """The caption matching the panels this figure has for ``run``."""
        return self.describe(run) if self.describe is not None else self.caption


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("roc", ("roc", "evaluations"), "ROC curves in and out of distribution (Glowacki Figs. 4 and 8)",
               roc_curves, describe=roc_caption),
    FigureSpec("training", ("epochs",), "Validation loss and ROC-AUC per epoch", training_curves),
    FigureSpec("goldstone", ("goldstone",), "Loss and R(ε) along ν1 and a random direction (Figs. 5 and 6)",
               goldstone),
    FigureSpec("smearing", ("smearing",), "ROC-AUC against pT smearing (Fig. 7)", smearing),
    FigureSpec("distillation", ("distillation",), "Distillation MSE per epoch (Fig. 9)", distillation),
    FigureSpec("curvature", ("hessian",), "λ1, Tr(H) and the Hessian eigenvalue density", curvature,
               describe=curvature_caption),
    FigureSpec("lambda_scan", ("trials",), "λ scan: performance, curvature and compressibility against λ",
               lambda_scan, when=lambda run: not run.has("trials") or bool(scanned_penalties(run)),
               describe=lambda_scan_caption),
    FigureSpec("trajectory_curvature", ("hessian",),
               "λ1 and Tr(H) of the weights kept every few epochs; stars: each trial's best model",
               trajectory_curvature, when=lambda run: run.has_trajectory("hessian")),
    FigureSpec("symmetry", ("symmetry",),
               "Symmetry violation |σ(f(x)) − σ(f(Λx))| against boost speed, rotation angle and epoch; the dual "
               "model's learned symmetry factor", symmetry, when=symmetry_measured, describe=symmetry_caption),
    FigureSpec("flatness_auc", ("hessian", "evaluations"),
               "In-distribution ROC-AUC against λ1 over every analysed (trial, epoch), with Spearman's ρ",
               flatness_auc, when=lambda run: run.has_epochs("hessian", "evaluations")),
    FigureSpec("looks", (), "Each finding's simultaneous interval against the seeds per bias, look by look",
               looks_figure, when=lambda run: run.rounds is not None and not measured(run).empty),
)


def figure_specs() -> tuple[FigureSpec, ...]:
    """:data:`FIGURES` and the figures registered analyses bring (:mod:`raysym.stages.analysis_spec`)."""
    return FIGURES + tuple(figure for spec in registered() for figure in spec.figures)


def caption_for(name: str, run: StudyRun) -> str | None:
    """The caption of figure ``name`` for ``run`` (None for a name :func:`figure_specs` does not know)."""
    spec = next((spec for spec in figure_specs() if spec.name == name), None)
    return None if spec is None else spec.caption_for(run)
