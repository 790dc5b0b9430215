"""``raysym plot STORE`` and ``raysym report STORE``: figures and the report of a study, from its store alone.

``plot`` writes every figure the run's tables allow as PNG and PDF; a figure whose table is missing is
skipped with one line naming the table. ``report`` does the same and then writes ``report.md`` and a
self-contained ``report.html`` beside the figures. ``studies/full.py`` calls :func:`write_report` at the
end of every study.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from raysym.paths import writable_dir
from raysym.report.selection import StudyRun, select_run


@dataclass
class Written:
    """What a plot or report run wrote, what it skipped and why, and how long it took."""

    folder: Path
    figures: list[tuple[str, str]] = field(default_factory=list)  # (PNG path relative to folder, caption)
    skipped: list[str] = field(default_factory=list)
    report: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def write_figures(run: StudyRun, out_dir: str | os.PathLike) -> Written:
    """Every figure of :data:`~raysym.report.figures.FIGURES` the run's tables allow, as PNG and PDF in
    ``out_dir/figures``."""
    import matplotlib.pyplot as plt

    from raysym.report.figures import FIGURES, style

    start = time.perf_counter()
    folder = writable_dir(out_dir, "report directory")
    figure_dir = writable_dir(folder / "figures", "figure directory")
    written = Written(folder)
    style()
    for spec in FIGURES:
        missing = [t for t in spec.tables if not run.has(t)]
        if missing:
            written.skipped.append(f"{spec.name}: skipped, no {' or '.join(missing)} table for study {run.study}")
            continue
        if not spec.when(run):
            continue
        figure = spec.draw(run)
        for suffix in ("png", "pdf"):
            figure.savefig(figure_dir / f"{spec.name}.{suffix}", dpi=150, bbox_inches="tight")
        plt.close(figure)
        written.figures.append((f"figures/{spec.name}.png", spec.caption))
    written.seconds = time.perf_counter() - start
    return written


def write_report(run: StudyRun, out_dir: str | os.PathLike) -> Written:
    """Figures, ``report.md`` and ``report.html`` of one study run (:func:`select_run`), into ``out_dir``."""
    from raysym.report.contents import report_blocks
    from raysym.report.document import html_page, markdown

    start = time.perf_counter()
    written = write_figures(run, out_dir)
    blocks = report_blocks(run, written.figures, written.skipped)
    md, page = written.folder / "report.md", written.folder / "report.html"
    md.write_text(markdown(blocks))
    page.write_text(html_page(blocks, f"raysym study {run.study}", written.folder))
    written.report = [md, page]
    written.seconds = time.perf_counter() - start
    return written


def _print(written: Written) -> None:
    for line in written.skipped:
        print(line)
    print(f"{len(written.figures)} figure(s) in {written.folder / 'figures'}" +
          "".join(f"\nreport: {path}" for path in written.report) + f"  ({written.seconds:.1f} s)")


def run_plot(args: argparse.Namespace) -> int:
    run = select_run(args.store, args.study)
    _print(write_figures(run, args.out or Path(args.store).parent / "report"))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from raysym.report.contents import verdict_lines

    run = select_run(args.store, args.study)
    _print(write_report(run, args.out or Path(args.store).parent / "report"))
    for line in verdict_lines(run):
        print(line)
    return 0


def register(subparsers) -> None:
    """Add ``plot`` and ``report`` to the ``raysym`` parser."""
    for name, func, summary in (("plot", run_plot, "seaborn figures of a study, from its result store"),
                                ("report", run_report, "report.md and a self-contained report.html with the "
                                                       "figures and the paper's tables beside this study's")):
        parser = subparsers.add_parser(name, help=summary, description=summary)
        parser.add_argument("store", help="result store directory (e.g. raysym-runs/quick/store)")
        parser.add_argument("--out", type=Path, help="output directory (default: beside the store, report/)")
        parser.add_argument("--study", help="which study of the store (default: its only or newest one)")
        parser.set_defaults(func=func)
