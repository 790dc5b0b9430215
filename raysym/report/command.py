"""``raysym plot STORE`` and ``raysym report STORE``: figures and the report of a study, from its store alone.

``plot`` writes every figure the run's tables allow as PNG and PDF; a figure whose table is missing is
skipped with one line naming the table. ``report`` does the same and then writes ``report.md`` and a
self-contained ``report.html`` beside the figures. ``studies/full.py`` calls :func:`write_report` at the
end of every study.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from raysym.artifacts import is_uri, join, normalise, sibling, staged_file, upload_tree, write_bytes
from raysym.output_lock import lock_holder
from raysym.paths import writable_dir, writable_location
from raysym.report.selection import StudyRun, select_run
from raysym.store import ResultStore


@dataclass
class Written:
    """What a plot or report run wrote (``folder``: a local folder or a URI), what it skipped and why,
    and how long it took."""

    folder: str
    figures: list[tuple[str, str]] = field(default_factory=list)  # (PNG path relative to folder, caption)
    skipped: list[str] = field(default_factory=list)
    report: list[str] = field(default_factory=list)
    seconds: float = 0.0


@contextlib.contextmanager
def local_folder(out_dir: str | os.PathLike) -> Iterator[Path]:
    """A local folder to draw into that ends up at ``out_dir``: the folder itself when local; for a URI
    (the study's object store on a cluster) a temporary folder, uploaded once everything is drawn."""
    if not is_uri(out_dir):
        yield writable_dir(out_dir, "report directory")
        return
    writable_location(out_dir, "report location")
    with tempfile.TemporaryDirectory(prefix="raysym-report-") as folder:
        yield Path(folder)
        upload_tree(folder, out_dir)


def draw_figures(run: StudyRun, folder: Path, written: Written) -> None:
    """Every figure of :func:`~raysym.report.figures.figure_specs` the run's tables allow, as PNG and PDF in
    the local ``folder/figures``, recorded in ``written``."""
    from raysym.report.figures import figure_specs, themed

    figure_dir = writable_dir(folder / "figures", "figure directory")
    for spec in figure_specs():
        if not spec.when(run):
            continue
        missing = [t for t in spec.tables if not run.has(t)]
        if missing:
            written.skipped.append(f"{spec.name}: skipped, no {' or '.join(missing)} table for study {run.study}")
            continue
        # A plain Figure (raysym.report.drawing): saving it needs no backend and no display, and it is freed
        # with its last reference, so nothing is closed here.
        with themed():
            figure = spec.draw(run)
            for suffix in ("png", "pdf"):  # each file appears whole or not at all (a full disk, Ctrl-C)
                with staged_file(figure_dir / f"{spec.name}.{suffix}") as path, open(path, "wb") as handle:
                    # Our own handle: matplotlib's PDF writer left its file open when the disk filled, so the
                    # removed partial file kept its space and a mounted disk could not be released.
                    figure.savefig(handle, format=suffix, dpi=150, bbox_inches="tight")
        written.figures.append((f"figures/{spec.name}.png", spec.caption_for(run)))


def write_figures(run: StudyRun, out_dir: str | os.PathLike) -> Written:
    """The run's figures, as PNG and PDF in ``out_dir/figures`` (a local folder or a URI)."""
    start = time.perf_counter()
    written = Written(normalise(out_dir))
    with local_folder(out_dir) as folder:
        draw_figures(run, folder, written)
    written.seconds = time.perf_counter() - start
    return written


def write_report(run: StudyRun, out_dir: str | os.PathLike) -> Written:
    """Figures, ``report.md`` and ``report.html`` of one study run (:func:`select_run`), into ``out_dir``
    (a local folder or a URI)."""
    from raysym.report.contents import report_blocks
    from raysym.report.document import html_page, markdown

    start = time.perf_counter()
    written = Written(normalise(out_dir))
    with local_folder(out_dir) as folder:
        draw_figures(run, folder, written)
        blocks = report_blocks(run, written.figures, written.skipped)
        write_bytes(folder / "report.md", markdown(blocks).encode())
        write_bytes(folder / "report.html", html_page(blocks, f"raysym study {run.study}", folder).encode())
    written.report = [join(out_dir, "report.md"), join(out_dir, "report.html")]
    written.seconds = time.perf_counter() - start
    return written


def default_folder(store: str) -> str:
    """Where figures and the report go unless told: ``report/`` beside the store."""
    return sibling(store, "report")


def _print(written: Written) -> None:
    for line in written.skipped:
        print(line)
    print(f"{len(written.figures)} figure(s) in {join(written.folder, 'figures')}" +
          "".join(f"\nreport: {path}" for path in written.report) + f"  ({written.seconds:.1f} s)")


def selected_run(args: argparse.Namespace) -> StudyRun:
    """The run to show: while a study is writing to the store's folder (:mod:`raysym.output_lock`), only a
    run that finished, and a line saying one is in progress."""
    store = ResultStore(args.store)
    store.require()  # a store that is not there, or cannot be reached, is named first
    holder = lock_holder(store.home)
    if holder is not None:
        print(f"a study is in progress in this folder ({holder.describe()}): only runs that finished are shown",
              file=sys.stderr)
    return select_run(args.store, args.study, finished_only=holder is not None)


def run_plot(args: argparse.Namespace) -> int:
    run = selected_run(args)
    _print(write_figures(run, args.out or default_folder(args.store)))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from raysym.report.contents import verdict_lines

    run = selected_run(args)
    _print(write_report(run, args.out or default_folder(args.store)))
    for line in verdict_lines(run):
        print(line)
    return 0


def register(subparsers) -> None:
    """Add ``plot`` and ``report`` to the ``raysym`` parser."""
    for name, func, summary in (("plot", run_plot, "seaborn figures of a study, from its result store"),
                                ("report", run_report, "report.md and a self-contained report.html with the "
                                                       "figures and the paper's tables beside this study's")):
        parser = subparsers.add_parser(name, help=summary, description=summary)
        parser.add_argument("store", help="result store: a directory (e.g. raysym-runs/quick/store) or a URI "
                                          "(s3://bucket/prefix/store)")
        parser.add_argument("--out", help="output directory or URI (default: beside the store, report/)")
        parser.add_argument("--study", help="which study of the store (default: its only or newest one)")
        parser.set_defaults(func=func)
