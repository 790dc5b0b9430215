"""The one look of every figure (docs/methods.md §6): seaborn's white grid, one fixed colour per bias, panels
side by side, one legend under them, and the seed band. :mod:`.figures` and :mod:`.trajectory_figures`
both draw with these, so a bias has the same colour in every figure of a run.

Figures are plain :class:`matplotlib.figure.Figure` objects, not pyplot's: drawing one neither picks nor
switches matplotlib's backend, registers nothing with pyplot and changes no global setting, so the same
functions write the report's files on a machine without a display and show inline in a notebook
(``raysym.results``), and a report of many figures keeps none of them alive after saving. The style is
applied only while a figure is drawn (:func:`themed`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import matplotlib
import seaborn as sns
from cycler import cycler
from matplotlib.figure import Figure

from raysym.report.selection import StudyRun

#: A band from the lowest to the highest seed.
BAND = ("pi", 100)


def theme() -> dict:
    """The matplotlib settings of the one style: seaborn's white grid, its paper context at font scale 1.1 and
    its colour-blind-safe palette (what ``sns.set_theme`` would set globally)."""
    return {**sns.axes_style("whitegrid", rc={"font.family": "sans-serif"}),
            **sns.plotting_context("paper", font_scale=1.1),
            "axes.prop_cycle": cycler(color=sns.color_palette("colorblind"))}


@contextlib.contextmanager
def themed() -> Iterator[None]:
    """Draw (and save) the figures made inside in the one style; matplotlib's settings are restored after."""
    with matplotlib.rc_context(theme()):
        yield


def palette(run: StudyRun) -> dict[str, tuple]:
    """One colour per bias, the same in every figure of the run."""
    biases = sorted(run.table("trials")["bias"].unique()) if run.has("trials") else []
    for name in run.tables:
        if "bias" in run.table(name):
            biases = sorted(set(biases) | set(run.table(name)["bias"].dropna()))
    return dict(zip(biases, sns.color_palette("colorblind", max(len(biases), 1))))


def panels(count: int, width: float = 4.2, height: float = 3.4):
    """A figure of ``count`` panels in a row, and the list of their axes."""
    fig = Figure(figsize=(width * count, height))
    axes = fig.subplots(1, count, squeeze=False)
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
