"""``raysym generate``: the offline jet generator on the command line (docs/methods.md §1.3).

Its defaults are :class:`GeneratorConfig`'s, read from the class, so the command and the Python API
cannot drift apart.
"""

from __future__ import annotations

import argparse

from raysym.errors import ConfigError
from raysym.generate.config import GeneratorConfig, parse_classes
from raysym.generate.detector import DetectorConfig

#: The config's defaults (the jet count is required, so any value serves to read them).
_DEFAULTS = GeneratorConfig(jets_per_class=1)


def register(subparsers) -> None:
    """Add the ``generate`` subcommand to the ``raysym`` parser."""
    p = subparsers.add_parser(
        "generate", help="generate hls4ml-layout jet files with Pythia 8 + FastJet",
        description="Generate truth-matched g/q/W/Z/top jets (anti-kT R=0.8, pT 0.8-1.2 TeV, |eta|<2) "
                    "with Pythia 8, FastJet and a parametric detector, one Ray task per chunk. Chunks "
                    "whose file exists are skipped, so an interrupted run resumes.")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--jets-per-class", type=int, required=True, metavar="N", help="jets per class")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed, metavar="S",
                   help=f"run seed (default {_DEFAULTS.seed})")
    classes = ",".join(_DEFAULTS.classes)
    p.add_argument("--classes", default=classes, help=f"comma-separated classes (default {classes})")
    p.add_argument("--layout", default="hls4ml", choices=("hls4ml", "toptag"),
                   help="file layout: hls4ml's (every class; default) or the top-tagging data set's (classes t and "
                        "q and/or g, written as top vs QCD)")
    p.add_argument("--chunk-size", type=int, default=_DEFAULTS.chunk_size, metavar="N",
                   help=f"jets per file/task ({_DEFAULTS.chunk_size})")
    p.add_argument("--no-mpi", action="store_true", help="switch multiparton interactions off (faster)")
    p.add_argument("--no-detector", action="store_true", help="cluster the visible particles directly")
    p.add_argument("--pthat-min", type=float, default=_DEFAULTS.pthat_min, metavar="GEV",
                   help=f"Pythia pTHatMin ({_DEFAULTS.pthat_min:g})")
    p.add_argument("--all-quark-flavours", action="store_true",
                   help="keep c and b jets in the q class (default: u, d, s only, like hls4ml)")
    p.add_argument("--address", default=None, help="address of a running Ray cluster (default: local)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    p.add_argument("--no-ray", action="store_true", help="run the chunks one by one in this process")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raysym.generate.chunks import generate

    if args.num_cpus is not None and args.num_cpus <= 0:
        raise ConfigError(f"--num-cpus must be positive, got {args.num_cpus}")
    config = GeneratorConfig(
        jets_per_class=args.jets_per_class, seed=args.seed, classes=parse_classes(args.classes),
        chunk_size=args.chunk_size, mpi=not args.no_mpi,
        detector=None if args.no_detector else DetectorConfig(), pthat_min=args.pthat_min,
        light_quarks_only=not args.all_quark_flavours)
    paths = generate(config, args.out, address=args.address, num_cpus=args.num_cpus, use_ray=not args.no_ray,
                     progress=not args.no_progress, layout=args.layout)
    print(f"{len(paths)} files in {args.out}")
    return 0
