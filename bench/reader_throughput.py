"""Read throughput of every data set's reader (issue 24's measurement): jets per second on files of about
100,000 jets in each published layout, written here by each layout's own writer.

The jets are the same for every layout: massless constituents around η = 0 (3 to 60 per jet, pT falling),
half of them "signal". hls4ml's are ten gzip files of 10,000 jets (its published files hold 10,000 each);
the others one file each (uncompressed top-tagging table, gzip ATLAS file, zlib ROOT file, each writer's
default). Each file is read ``--repeats`` times with the study's 32 constituents through the data set's
``read`` (no jet cache); wall time and this process's CPU time are reported, the median over the repeats.
Usage: ``python bench/reader_throughput.py --jets 100000 --out bench/results/readers.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from raysym.data.dataset_atlas_top import write_atlas_top_file
from raysym.data.dataset_jetclass import write_jetclass_file
from raysym.data.dataset_toptag import write_toptag_file
from raysym.data.datasets import dataset
from raysym.data.hls4ml_layout import write_hls4ml_file


def momenta(n: int, seed: int = 0, slots: int = 60) -> np.ndarray:
    """(n, slots, 4) massless (px, py, pz, E) GeV, pT-ordered, zero-padded; 3 to ``slots`` per jet."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, slots + 1, n)
    pt = -np.sort(-(rng.exponential(30.0, (n, slots)) + 1.0), axis=1)
    pt[np.arange(slots)[None, :] >= counts[:, None]] = 0.0
    eta, phi = rng.normal(0, 0.3, pt.shape), rng.normal(0, 0.3, pt.shape)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    out = np.stack([px, py, pz, pt * np.cosh(eta)], axis=-1)
    out[pt == 0] = 0.0
    return out


def e_first(p: np.ndarray) -> np.ndarray:
    return np.concatenate([p[..., 3:], p[..., :3]], axis=-1)


def write_all(folder: Path, n: int) -> dict[str, tuple[Path, float]]:
    """Each layout's files of the same ``n`` jets: name -> (path to read, seconds the writer took)."""
    p, signal = momenta(n), np.arange(n) % 2
    written = {}
    start = time.perf_counter()
    (folder / "hls4ml").mkdir()
    per_file = 10_000
    for k, begin in enumerate(range(0, n, per_file)):
        part = slice(begin, begin + per_file)
        labels = np.where(signal[part] == 1, 2, 0)  # W against gluon
        write_hls4ml_file(folder / "hls4ml" / f"jetImage_bench_{k:02d}.h5", p[part], labels)
    written["hls4ml"] = (folder / "hls4ml", time.perf_counter() - start)
    start = time.perf_counter()
    write_toptag_file(folder / "toptag.h5", e_first(p), signal)
    written["toptag"] = (folder / "toptag.h5", time.perf_counter() - start)
    start = time.perf_counter()
    write_atlas_top_file(folder / "atlas.h5", e_first(p), signal, np.random.default_rng(1).uniform(0.1, 5, n))
    written["atlas-top"] = (folder / "atlas.h5", time.perf_counter() - start)
    start = time.perf_counter()
    write_jetclass_file(folder / "jetclass.root", p, np.where(signal == 1, 8, 0))  # Tbqq against QCD
    written["jetclass"] = (folder / "jetclass.root", time.perf_counter() - start)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="markdown file to write (default: print)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="raysym-readers-") as tmp:
        for name, (path, write_seconds) in write_all(Path(tmp), args.jets).items():
            size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
            walls, cpus = [], []
            for _ in range(args.repeats):
                wall, cpu = time.perf_counter(), time.process_time()
                jets = dataset(name).read(path)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert len(jets) == args.jets, (name, len(jets))
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            rows.append(f"| {name} | {size / 1e6:,.0f} | {write_seconds:.1f} | {wall:.2f} | {args.jets / wall:,.0f} | "
                        f"{cpu:.2f} | {args.jets / cpu:,.0f} |")
            print(rows[-1], flush=True)
    load = os.getloadavg()
    text = "\n".join([
        "# Read throughput of the data set readers (issue 24)", "",
        f"Measured {datetime.date.today()} on {platform.node() or 'this machine'} ({os.cpu_count()} cores; load "
        f"average at the end {load[0]:.1f}), Python {platform.python_version()}: `python "
        f"{shlex.join(['bench/reader_throughput.py', *sys.argv[1:]])}`. {args.jets:,} jets per data set, read "
        f"with the study's 32 constituents; median of {args.repeats} reads. CPU s is this process's CPU time "
        "(the readers are single-threaded, so jets per CPU-second is what an idle core gives).", "",
        "| data set | MB on disk | write s | read s (wall) | jets/s (wall) | read CPU s | jets per CPU-s |",
        "|---|---|---|---|---|---|---|", *rows, ""])
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
