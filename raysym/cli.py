"""The ``raysym`` console script.

Each subcommand lives next to the code it drives, in a module with ``register(subparsers)`` that adds
its parser and sets ``func``; this file only collects them, so later stages add a line here and nothing
else. It also gives every command the same ending: bad input is one line on stderr and exit status 2,
raysym's logged warnings (a store file skipped, say) are lines on stderr, and a reader that stops
reading (``raysym query … | head``) ends the command quietly with status 141.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import Iterator

from raysym.errors import ConfigError, DataError, disk_full, disk_full_message

#: Modules that provide a subcommand, in the order ``raysym --help`` lists them.
COMMAND_MODULES = (
    "raysym.generate.command",
    "raysym.models.command",
    "raysym.query",
    "raysym.report.command",
    "raysym.study.migration",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raysym", description="raysym: soft-symmetry inductive biases in jet taggers, run on Ray")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


#: The exit status when the reader of stdout has gone (``raysym query … | head -1``): 128 + SIGPIPE, what
#: a program the signal ends returns, so a shell script with ``set -o pipefail`` sees what it sees of ``cat``.
BROKEN_PIPE_STATUS = 141


class _StderrLines(logging.Handler):
    """Each record as one line ``raysym COMMAND: warning: …`` on whatever ``sys.stderr`` is when it is
    written (tests replace it), so a command's user sees raysym's warnings without configuring logging."""

    def __init__(self, command: str):
        super().__init__(level=logging.WARNING)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        print(f"raysym {self.command}: {record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


@contextlib.contextmanager
def warnings_to_stderr(command: str) -> Iterator[None]:
    """raysym's warnings as lines on stderr while ``command`` runs (and only then: a study run or a test that
    imports raysym keeps its own logging)."""
    handler = _StderrLines(command)
    logger = logging.getLogger("raysym")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _reader_gone() -> int:
    """Stop writing to a pipe nobody reads: point stdout at the null device, so the flush at exit has
    nowhere to fail (Python would print a traceback for it), and return :data:`BROKEN_PIPE_STATUS`."""
    with contextlib.suppress(OSError, ValueError):  # no real stdout (tests): nothing to redirect
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return BROKEN_PIPE_STATUS


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings_to_stderr(args.command):
        try:
            result = args.func(args)
            sys.stdout.flush()  # here, where a closed pipe can still be caught, not at exit
        except BrokenPipeError:
            return _reader_gone()
        except (DataError, ConfigError) as err:
            print(f"raysym {args.command}: error: {err}", file=sys.stderr)
            return 2
        except Exception as err:
            full = disk_full(err)
            if full is None:
                raise
            print(f"raysym {args.command}: error: {disk_full_message(full)}", file=sys.stderr)
            return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
