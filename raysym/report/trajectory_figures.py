"""Figures of what happens over training, not only at the best model: curvature per kept epoch, the
symmetry violation, and whether flatness goes with performance (docs/methods.md §6.7–6.8).

They read :attr:`StudyRun.trajectories` (every analysed epoch) where time matters and
:attr:`StudyRun.tables` (the best model) otherwise, in the style of :mod:`.figures`: one colour per bias,
the mean over seeds with a band from the lowest to the highest seed, and each trial's best model marked
as a star. :data:`raysym.report.figures.FIGURES` lists them with the rest.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from raysym.report import summaries
from raysym.report.drawing import BAND, palette, panels, shared_legend
from raysym.report.selection import StudyRun

VIOLATION = "|σ(f(x)) − σ(f(Λx))|"
#: How each trial's best model is marked on a curve over epochs.
BEST_MARKER = {"marker": "*", "markersize": 12, "markeredgecolor": "0.15", "linestyle": "none"}


def _mark_best(ax, rows: pd.DataFrame, column: str, colours: dict, errors: str | None = None) -> None:
    """A star at each trial's best epoch on a panel of ``column`` against epoch (with ``errors`` as bars)."""
    for bias, part in rows[rows["best"]].groupby("bias", sort=True):
        ax.errorbar(part["epoch"], part[column], yerr=part[errors] if errors else None, color=colours[bias],
                    ecolor=colours[bias], **BEST_MARKER)


def _best_key(ax) -> None:
    """The legend's entry for the stars (an empty line drawn only to carry the label)."""
    ax.plot([], [], color="0.5", label="each trial's best model", **BEST_MARKER)


def _log_scale(ax, which: str) -> None:
    """A log axis labelled 1, 2, 5, 10, 20, ... in plain numbers (a decade or two of λ1 leaves matplotlib's
    default with one label, or with minor labels on top of each other)."""
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def trajectory_curvature(run: StudyRun) -> Figure:
    """λ1 and Tr(H) against the training epoch of the analysed weights, per bias: the mean over seeds with the
    seed band, each trial's best model as a star (Tr(H) with its Hutchinson standard error). λ1 on a log axis
    when all are positive: biases differ by orders of magnitude (Glowacki Table 2)."""
    colours, rows = palette(run), summaries.curvature_trajectory(run)
    fig, axes = panels(2)
    for ax, (column, label) in zip(axes, (("lambda1", "λ1 (top Hessian eigenvalue)"), ("trace", "Tr(H)"))):
        sns.lineplot(data=rows, x="epoch", y=column, hue="bias", palette=colours, errorbar=BAND, marker="o", ax=ax)
        _mark_best(ax, rows, column, colours, errors="trace_stderr" if column == "trace" else None)
        ax.set(xlabel="training epoch of the analysed weights", ylabel=label)
    if (rows["lambda1"] > 0).all():
        _log_scale(axes[0], "y")
    _best_key(axes[0])
    shared_legend(fig, axes)
    return fig


def _binned(ax, rows: pd.DataFrame, colours: dict, xlabel: str) -> None:
    """Violation per bin of one transformation, at the bins' centres: the mean (solid, seed band) and the
    90th percentile (dashed, mean over seeds)."""
    rows = rows.assign(centre=(rows["bin_low"] + rows["bin_high"]) / 2)
    sns.lineplot(data=rows, x="centre", y="mean", hue="bias", palette=colours, errorbar=BAND, marker="o", ax=ax)
    sns.lineplot(data=rows, x="centre", y="p90", hue="bias", palette=colours, errorbar=None, linestyle="--",
                 legend=False, ax=ax)
    ax.set(xlabel=xlabel, ylabel=VIOLATION)
    ax.set_title("mean (solid), 90th percentile (dashed)", fontsize="small")


def symmetry_measured(run: StudyRun) -> bool:
    """Whether the run measured the symmetry violation: it has the rows, or it was recorded by a version
    that measures it (its settings keys name one) without the analysis switched off."""
    analyses = (run.config or {}).get("analyses", {})
    return "symmetry" in run.trajectories or ("symmetry" in run.keys and analyses.get("symmetry", True) is not False)


def symmetry_panels(run: StudyRun) -> list[str]:
    """Which panels :func:`symmetry` draws, in order: "boost" and "rotation" (violation per bin, best
    model), "epoch" (violation against epoch, when some trial has several analysed epochs) and "factor"
    (the dual model's learned symmetry factor, when stored)."""
    kinds = set(run.table("symmetry")["transform"])
    shown = [kind for kind in ("boost", "rotation") if kind in kinds]
    if run.has_trajectory("symmetry") and shown:
        shown.insert(1, "epoch")
    return shown + (["factor"] if "factor" in kinds else [])


def symmetry_caption(run: StudyRun) -> str:
    """What the symmetry figure shows for this run: only the panels :func:`symmetry_panels` draws."""
    if not run.has("symmetry"):
        return f"Symmetry violation {VIOLATION} (docs/methods.md §6.8)"
    words = {"boost": "against boost speed |β|", "rotation": "against rotation angle",
             "epoch": "against the training epoch (stars: each trial's best model)"}
    shown = symmetry_panels(run)
    against = [words[kind] for kind in shown if kind in words]
    text = f"Symmetry violation {VIOLATION} " + (", ".join(against[:-1]) + " and " + against[-1]
                                                  if len(against) > 1 else "".join(against))
    if "epoch" not in shown:
        text += " for each trial's best model"
    if "factor" in shown:
        text += "; the dual model's learned symmetry factor w_inv over the test jets"
    return text + " (docs/methods.md §6.8)"


def symmetry(run: StudyRun) -> Figure:
    """How far each bias's classifier is from Lorentz invariance on the test jets: |σ(f(x)) − σ(f(Λx))|
    against the boost speed |β| and the rotation angle (best models), its mean over all boosts against the
    training epoch, and the distribution of the dual model's learned symmetry factor w_inv (docs/methods.md
    §6.8), each bias with its seed band."""
    colours, best = palette(run), run.table("symmetry")
    shown = symmetry_panels(run)
    fig, axes = panels(len(shown))
    for ax, kind in zip(axes, shown):
        if kind == "boost":
            _binned(ax, best[best["transform"] == "boost"], colours, "boost speed |β| (bin centre)")
        elif kind == "rotation":
            _binned(ax, best[best["transform"] == "rotation"], colours, "rotation angle (rad, bin centre)")
        elif kind == "epoch":
            transform = "boost" if "boost" in shown else "rotation"
            rows = summaries.symmetry_violation(run, transform, trajectory=True)
            sns.lineplot(data=rows, x="epoch", y="violation", hue="bias", palette=colours, errorbar=BAND, marker="o",
                         ax=ax)
            _mark_best(ax, rows, "violation", colours)
            ax.set(xlabel="training epoch of the analysed weights",
                   ylabel=f"{VIOLATION}, mean over every {transform}")
        else:
            factor = best[best["transform"] == "factor"]
            factor = factor.assign(centre=(factor["bin_low"] + factor["bin_high"]) / 2)
            sns.lineplot(data=factor, x="centre", y="fraction", hue="bias", palette=colours, errorbar=BAND,
                         marker="o", ax=ax)
            for bias, part in factor.groupby("bias", sort=True):  # the mean w_inv, repeated in each bin's row
                ax.axvline(part.drop_duplicates("trial_id")["mean"].mean(), color=colours[bias], linestyle=":")
            ax.set(xlabel="learned symmetry factor w_inv (dotted: mean)", ylabel="fraction of test jets",
                   xlim=(0, 1))
    if "epoch" in shown:
        _best_key(axes[0])
    shared_legend(fig, axes)
    return fig


def flatness_auc(run: StudyRun) -> Figure:
    """Is flatness predictive of performance here? The in-distribution test ROC-AUC against λ1 for every
    analysed (trial, epoch), one colour per bias (stars: best models), λ1 on a log axis, with Spearman's ρ
    over all points (title) and per bias (legend)."""
    colours, points = palette(run), summaries.flatness_points(run)
    fig, [ax] = panels(1, width=7.5, height=4.0)  # the legend goes to the right
    for bias, part in points.groupby("bias", sort=True):
        rho, n = summaries.spearman(part["lambda1"], part["roc_auc"])
        ax.scatter(part["lambda1"], part["roc_auc"], color=colours[bias], alpha=0.75, s=22,
                   label=f"{bias}: {summaries.correlation_text(rho, n)}")
        best = part[part["best"]]
        ax.plot(best["lambda1"], best["roc_auc"], color=colours[bias], **BEST_MARKER)
    _best_key(ax)
    tasks = sorted(set(points["task"]))
    task = run.task_title(tasks[0]) if len(tasks) == 1 else "each trial's training task"
    rho, n = summaries.spearman(points["lambda1"], points["roc_auc"])
    _log_scale(ax, "x")
    ax.set(xlabel="λ1 (top Hessian eigenvalue)", ylabel=f"test ROC-AUC, {task}",
           title=f"Spearman {summaries.correlation_text(rho, n)}, every (trial, epoch)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.tight_layout()
    return fig
