"""The ``raysym`` console script.

Each subcommand lives next to the code it drives, in a module with ``register(subparsers)`` that adds
its parser and sets ``func``; this file only collects them, so later stages add a line here and nothing
else.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from raysym.errors import ConfigError, DataError

#: Modules that provide a subcommand, in the order ``raysym --help`` lists them.
COMMAND_MODULES = (
    "raysym.generate.command",
    "raysym.models.command",
    "raysym.query",
    "raysym.report.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysym", description="raysym: soft-symmetry inductive biases in jet taggers, run on Ray")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except (DataError, ConfigError) as err:
        print(f"raysym {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
