"""The raysym study, end to end: ``python studies/full.py`` (CPU default) or on a Ray cluster.

Stage 0, the jets: the user's hls4ml files (``--data DIR``) or, without them, physics jets generated
here with Pythia 8 + FastJet and a parametric detector, cached so a rerun loads them in seconds.
The training grid, analyses and the result store attach to this script as they land (issues 4-5);
today it makes and summarises the study's jets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.data.jetset import TASKS, split
from raysym.data.sources import study_jets
from raysym.errors import ConfigError, DataError
from raysym.generate.config import GeneratorConfig
from raysym.kinematics import invariant_mass, jet_p4

#: Jets per class generated for each preset when no hls4ml files are given.
PRESET_JETS_PER_CLASS = {"quick": 3000, "paper": 72_000}
STUDY_CLASSES = ("g", "w", "z", "t")  # the classes the three tasks use


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=sorted(PRESET_JETS_PER_CLASS))
    parser.add_argument("--data", type=Path, help="directory of hls4ml jetImage_*.h5 files (default: generate)")
    parser.add_argument("--out", type=Path, default=Path("raysym-runs"), help="where the study writes")
    parser.add_argument("--address", help="Ray cluster to connect to (default: a local Ray)")
    parser.add_argument("--jets-per-class", type=int, help="override the preset's generated jets per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke-test", action="store_true", help="a seconds-long run of the real path")
    return parser.parse_args(argv)


def summarise(jets) -> str:
    """Per class: jet count and median mass of the 32 kept constituents (GeV)."""
    import torch

    tensors = jets.to_torch()
    masses = invariant_mass(jet_p4(tensors["p4"].double(), tensors["mask"])).numpy()
    lines = [f"{'class':<6}{'jets':>8}{'median mass':>14}"]
    for index, name in enumerate(CLASS_NAMES):
        selected = jets.label == index
        if selected.any():
            lines.append(f"{name:<6}{int(selected.sum()):>8}{np.median(masses[selected]):>14.1f}")
    del torch
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    per_class = args.jets_per_class or (30 if args.smoke_test else PRESET_JETS_PER_CLASS[args.preset])
    name = f"{args.preset}{'-smoke' if args.smoke_test else ''}"
    generated_dir = args.out / "data" / f"generated-{per_class}-s{args.seed}"
    try:
        generator = GeneratorConfig(jets_per_class=per_class, seed=args.seed, classes=STUDY_CLASSES,
                                    chunk_size=min(500, per_class))
        start = time.perf_counter()
        jets = study_jets(args.data, generated_dir, generator, address=args.address)
        seconds = time.perf_counter() - start
        parts = split(jets, seed=args.seed)
        for task in TASKS:
            parts["test"].for_task(task)  # every task must have both classes in its test split
    except (ConfigError, DataError) as err:
        print(f"studies/full.py: error: {err}", file=sys.stderr)
        return 2
    print(f"study {name}: {len(jets)} jets from {jets.source} in {seconds:.1f} s")
    print(summarise(jets))
    print("split (train/val/test): " + " / ".join(str(len(parts[k])) for k in ("train", "val", "test")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
