"""``raysym models``: list the registered model kinds of a size preset with their parameter counts."""

from __future__ import annotations

import argparse

from raysym.models.kinds import kind_of
from raysym.models.registry import build_model, count_parameters, model_kinds, preset_names


def run(args: argparse.Namespace) -> int:
    rows = []
    for kind in model_kinds():
        if args.preset not in kind_of(kind).presets:
            continue
        model = build_model(kind, args.preset)
        rows.append((kind, f"{count_parameters(model):,}", kind_of(kind).describe(model.config)))
    header = ("kind", "parameters", "sizes")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(2)]
    print(f"preset {args.preset}")
    print(f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]}")
    for kind, count, sizes in rows:
        print(f"{kind:<{widths[0]}}  {count:>{widths[1]}}  {sizes}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list model kinds and parameter counts of a size preset",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", choices=preset_names(), help="size preset (default paper)")
    parser.set_defaults(func=run)
