"""A smoke study on every data set's layout, timed (issue 24's measurement): the quick preset's smoke version
on hls4ml and top-tagging jets the generator writes, and on ATLAS-layout (weighted) and JetClass files
written here, each with every analysis and distillation.

One local Ray (2 CPUs) serves all four; each study starts in its own empty folder, so generation, training,
evaluation, analyses and distillation all run. The ATLAS and JetClass jets are the generator's top and
light-quark jets written in those layouts (JetClass: QCD, Tbqq, and W jets as Wqq; H→4q has none, so its
near task is left out of that study's evaluation), so every study sees physics jets.
Usage: ``python bench/smoke_layouts.py --out bench/results/smoke_layouts.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

from raysym.data.dataset_atlas_top import write_atlas_top_file
from raysym.data.dataset_jetclass import JETCLASS_CLASSES, write_jetclass_file
from raysym.data.hls4ml_reader import read_hls4ml
from raysym.generate.chunks import generate
from raysym.generate.config import GeneratorConfig
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke


def physics_jets(folder: Path):
    """The generator's q, w and t jets (60 each) as (px, py, pz, E) momenta and class names."""
    generate(GeneratorConfig(jets_per_class=60, seed=7, classes=("q", "w", "t"), chunk_size=60), folder,
             progress=False)
    jets = read_hls4ml(folder)
    p4 = jets.p4.astype(np.float64)
    return np.concatenate([p4[..., 1:], p4[..., :1]], axis=-1), np.array(jets.classes)[jets.label]


def studies(folder: Path) -> dict:
    momenta, names = physics_jets(folder / "generated")
    e_first = np.concatenate([momenta[..., 3:], momenta[..., :3]], axis=-1)
    (folder / "atlas").mkdir()
    keep = names != "w"
    write_atlas_top_file(folder / "atlas" / "train.h5", e_first[keep], (names[keep] == "t").astype(int),
                         np.random.default_rng(0).uniform(0.2, 3.0, keep.sum()))
    (folder / "jetclass").mkdir()
    to_jetclass = {"q": "QCD", "t": "Tbqq", "w": "Wqq"}
    write_jetclass_file(folder / "jetclass" / "bench.root", momenta,
                        np.array([JETCLASS_CLASSES.index(to_jetclass[n]) for n in names]))
    quick = preset("quick")
    return {
        "hls4ml (generated)": smoke(quick),
        "toptag (generated)": smoke(quick.for_dataset("toptag")),
        "atlas-top (weighted file)": smoke(preset("seal-top")).with_overrides(data={"path": str(folder / "atlas")}),
        "jetclass (file)": smoke(quick.for_dataset("jetclass", str(folder / "jetclass"))).with_overrides(
            evaluation={"tasks": ("tbqq_vs_qcd", "wqq_vs_qcd")}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="markdown file to write (default: print)")
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    with tempfile.TemporaryDirectory(prefix="raysym-smoke-") as tmp:
        for name, config in studies(Path(tmp)).items():
            config = config.with_overrides(name=name.split()[0])
            start = time.perf_counter()
            outcome = run_study(config, Path(tmp) / name.split()[0], verbose=0, progress=False)
            wall = time.perf_counter() - start
            stages = ", ".join(f"{stage} {seconds:.0f}" for stage, seconds in outcome.seconds.items())
            rows.append(f"| {name} | {len(outcome.trial_ids)} | {len(outcome.student_ids)} | "
                        f"{'none' if not outcome.errors else '; '.join(outcome.errors)} | {wall:.0f} | {stages} |")
            print(rows[-1], flush=True)
    ray.shutdown()
    text = "\n".join([
        "# A smoke study on every data set's layout (issue 24)", "",
        f"Measured {datetime.date.today()} on {platform.node() or 'this machine'} ({os.cpu_count()} cores), one "
        f"local Ray of 2 CPUs: `python bench/smoke_layouts.py`. The smoke version of each study (40 jets per "
        "class where generated, tiny models, 2 epochs, one seed), every analysis and distillation on; each in an "
        "empty folder. The ATLAS and JetClass files hold the generator's light-quark, W and top jets in those "
        "layouts. Seconds, one run each.", "",
        "| data set | trials | students | errors | study s | stages s |", "|---|---|---|---|---|---|", *rows, ""])
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
