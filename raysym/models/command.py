"""``raysym models``: list the model kinds of a size preset with their parameter counts."""

from __future__ import annotations

import argparse

from raysym.models.registry import MODEL_KINDS, PRESETS, build_model, count_parameters


def describe(kind: str, config) -> str:
    """A one-line summary of a config's main sizes."""
    if kind in ("teacher", "student"):
        return (f"d_model {config.d_model}, heads {config.heads}, ff {config.ff}, layers {config.layers}, "
                f"head {'-'.join(map(str, config.head_widths))}")
    if kind == "invariant":
        return (f"pairs {'-'.join(map(str, config.pair_widths))}, nodes {'-'.join(map(str, config.node_widths))}, "
                f"latent {config.latent}, head {'-'.join(map(str, config.head_widths))}")
    t = config.transformer
    return (f"transformer d_model {t.d_model}x{t.layers} + invariant latent {config.invariant.latent}, "
            f"gate {'-'.join(map(str, config.gate_widths))}, head {'-'.join(map(str, config.head_widths))}")


def run(args: argparse.Namespace) -> int:
    rows = []
    for kind in MODEL_KINDS:
        model = build_model(kind, args.preset)
        rows.append((kind, f"{count_parameters(model):,}", describe(kind, model.config)))
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
    parser.add_argument("--preset", default="paper", choices=sorted(PRESETS), help="size preset (default paper)")
    parser.set_defaults(func=run)
