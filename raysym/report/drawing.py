"""The one look of every figure (docs/methods.md §6): seaborn's white grid, one fixed colour per bias, panels
side by side, one legend under them, and the seed band. :mod:`.figures` and :mod:`.trajectory_figures`
both draw with these, so a bias has the same colour in every figure of a run.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from raysym.report.selection import StudyRun  # noqa: E402

#: A band from the lowest to the highest seed.
BAND = ("pi", 100)


def style() -> None:
    """The one style of every figure."""
    sns.set_theme(style="whitegrid", palette="colorblind", context="paper", font_scale=1.1)


def palette(run: StudyRun) -> dict[str, tuple]:
    """One colour per bias, the same in every figure of the run."""
    biases = sorted(run.table("trials")["bias"].unique()) if run.has("trials") else []
    for name in run.tables:
        if "bias" in run.table(name):
            biases = sorted(set(biases) | set(run.table(name)["bias"].dropna()))
    return dict(zip(biases, sns.color_palette("colorblind", max(len(biases), 1))))


def panels(count: int, width: float = 4.2, height: float = 3.4):
    """A figure of ``count`` panels in a row, and the list of their axes."""
    fig, axes = plt.subplots(1, count, figsize=(width * count, height), squeeze=False)
    return fig, list(axes[0])


def shared_legend(fig, axes) -> None:
    """The first panel's legend, once, under all panels (the panels' own legends removed)."""
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.1 if handles else 0, 1, 1))
