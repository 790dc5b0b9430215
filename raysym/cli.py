"""The ``raysym`` console script.

Each subcommand lives next to the code it drives, in a module with ``register(subparsers)`` that adds
its parser and sets ``func``; this file only lists them (:data:`COMMANDS`) and imports just the module of
the command that runs, so ``raysym --help`` and ``raysym query`` start without torch. It also gives every command the same ending: bad input is one line on stderr and exit status 2,
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

#: Each subcommand, in the order ``raysym --help`` lists them: the module that provides it and its one-line
#: help. The help is written here as well, so that ``raysym --help`` imports no command module (several
#: import torch, which takes seconds); a test checks it is the module's own.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("raysym.generate.command", "generate hls4ml-layout jet files with Pythia 8 + FastJet"),
    "models": ("raysym.models.command", "list model kinds and parameter counts of a size preset"),
    "query": ("raysym.query", "run read-only SQL over the tables of a result store"),
    "plot": ("raysym.report.command", "seaborn figures of a study, from its result store"),
    "report": ("raysym.report.command", "report.md and a self-contained report.html with the figures and the "
                                        "paper's tables beside this study's"),
    "migrate": ("raysym.study.migration", "bring a result store written by an older raysym to the current keys "
                                          "(keeps a backup)"),
}
#: Modules that provide a subcommand (``register(subparsers)``), in that order.
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``raysym`` parser. ``only``: the one command whose module is imported and whose arguments are
    added (the others are listed with their help alone), "" for none; None, every command whole."""
    parser = argparse.ArgumentParser(
        prog="raysym", description="raysym: soft-symmetry inductive biases in jet taggers, run on Ray")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = COMMANDS[only][0] if only in COMMANDS else None
    registered = set()
    for name, (module, summary) in COMMANDS.items():
        if only is None or module == wanted:
            if module not in registered:  # one module may add several commands (plot and report)
                importlib.import_module(module).register(subparsers)
                registered.add(module)
        else:
            subparsers.add_parser(name, help=summary, description=summary)
    return parser


def _command_of(argv: list[str]) -> str:
    """The subcommand ``argv`` names ("" for none: ``raysym --help``): raysym itself takes no options, so it
    is the first argument that is not one."""
    return next((arg for arg in argv if not arg.startswith("-")), "")


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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
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
