"""A sequential study's looks (docs/methods.md §8): each finding's interval against the seeds per bias, and the
table of what each look decided. Drawn from the ``rounds`` rows a sequential study stores
(:attr:`raysym.report.selection.StudyRun.rounds`)."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from raysym.report.document import Paragraph, Table
from raysym.report.drawing import panels
from raysym.report.selection import StudyRun

#: Findings drawn per row of panels.
PER_ROW = 4


def measured(run: StudyRun):
    """The looks' rows of the findings that had an interval at some look."""
    rounds = run.rounds
    return rounds[np.isfinite(rounds["low"]) & np.isfinite(rounds["high"])]


def looks_figure(run: StudyRun) -> Figure:
    """Per finding, its estimate and simultaneous interval at each look against the seeds per bias, with no
    effect (0, or 1 for a ratio, on a log axis) and the paper's value where it gives one."""
    rows = measured(run)
    findings = list(dict.fromkeys(rows["finding"]))
    count = max(1, len(findings))
    if count <= PER_ROW:
        fig, axes = panels(count, height=3.2)
    else:
        lines = math.ceil(count / PER_ROW)
        fig = Figure(figsize=(4.2 * PER_ROW, 3.2 * lines))
        grid = fig.subplots(lines, PER_ROW, squeeze=False)
        axes = list(grid.flat)
    for ax, finding in zip(axes, findings):
        own = rows[rows["finding"] == finding].sort_values("seeds")
        ratio = (own["scale"] == "ratio").all() if "scale" in own else False
        ax.errorbar(own["seeds"], own["estimate"], yerr=[own["estimate"] - own["low"], own["high"] - own["estimate"]],
                    fmt="o-", capsize=3, color="C0")
        ax.axhline(1.0 if ratio else 0.0, color="grey", lw=1, label="no effect")
        paper = own["paper"].dropna() if "paper" in own else []
        if len(paper):
            ax.axhline(float(paper.iloc[0]), color="C3", ls="--", lw=1, label="paper")
        if ratio:
            ax.set_yscale("log")
        ax.set_title(f"{finding}: {own['outcome'].iloc[-1]}", fontsize=9)
        ax.set_xlabel("seeds per bias")
        ax.set_ylabel("SEAL / unconstrained" if ratio else "SEAL − unconstrained")
        ax.legend(fontsize=7)
    for ax in axes[len(findings):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def looks_blocks(run: StudyRun) -> list:
    """The rule and one row per look: seeds per bias, the α it read its intervals at, and each finding's
    outcome."""
    if run.rounds is None or run.rounds.empty:
        return []
    rounds = run.rounds
    findings = list(dict.fromkeys(rounds["finding"]))
    rows = []
    for look, own in rounds.groupby("look", sort=True):
        outcome = dict(zip(own["finding"], own["outcome"]))
        rows.append((str(look), str(int(own["seeds"].iloc[0])), f"{own['alpha'].iloc[0]:.2g}",
                     *(outcome.get(f, "—") for f in findings)))
    rule = ("Seeds were added in rounds until the targeted findings were decided (docs/methods.md §8). Each look "
            "reads its intervals at the share of α = 0.05 that the O'Brien–Fleming-like spending function of Lan "
            "and DeMets gives it, α(t) = 2 − 2Φ(z/√t) with t the seeds per bias over the planned maximum, split "
            "over the findings by Bonferroni; by the union bound the chance of any false decision over all looks "
            "stays below α.")
    return [Paragraph(rule), Table(("look", "seeds per bias", "α of the look", *findings), tuple(rows),
                                   "Each look's outcome per finding")]
