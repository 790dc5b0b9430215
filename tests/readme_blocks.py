"""The README's lists that the code defines, made from the code: the result store's tables and their columns
(raysym/tables.py), the flags of studies/full.py and the raysym commands (their argument parsers).

Each list sits in README.md between two markers. ``python -m tests.readme_blocks`` rewrites them there;
tests/test_readme.py fails, saying so, while a list and the code disagree (a table added to
raysym/tables.py, a flag added to the study's parser, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
from pathlib import Path

from raysym.cli import build_parser as raysym_parser
from raysym.tables import TABLES

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def begin(name: str) -> str:
    return f"<!-- {name}: made by `python -m tests.readme_blocks` from the code; edit the code, not this list -->"


def end(name: str) -> str:
    return f"<!-- end of {name} -->"


def study_parser() -> argparse.ArgumentParser:
    spec = importlib.util.spec_from_file_location("studies_full", REPO / "studies" / "full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_parser()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def tables() -> str:
    """One line per table of raysym/tables.py: what a row is, and its columns beyond the identifying ones."""
    lines = ["| table | a row is | columns (besides the trial keys, or the study for a per-study table) |",
             "|---|---|---|"]
    for name, table in TABLES.items():
        columns = ", ".join(f"`{column}`" for column in {**table.required, **table.optional})
        per = "" if table.per_trial else " (per study)"
        lines.append(f"| `{name}`{per} | {_cell(table.rows)} | {columns} |")
    return "\n".join(lines)


def _usage(action: argparse.Action) -> str:
    flag = max(action.option_strings, key=len)
    if action.nargs == 0:
        return f"`{flag}`"
    if action.choices is not None:
        value = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        value = action.metavar or action.dest.upper()
    return f"`{flag} {value}{' …' if action.nargs in ('+', '*') else ''}`"


def flags(parser: argparse.ArgumentParser) -> str:
    """One line per option of ``parser`` (help left out): how it is written and its help text."""
    lines = ["| flag | what it does |", "|---|---|"]
    for action in parser._actions:  # argparse keeps its options here; there is no public list
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        if not action.help:
            raise AssertionError(f"{max(action.option_strings, key=len)} has no help text for the README")
        lines.append(f"| {_usage(action)} | {_cell(action.help % vars(action))} |")
    return "\n".join(lines)


def commands() -> str:
    """One line per raysym subcommand and its help."""
    parser = raysym_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    lines = ["| command | what it does |", "|---|---|"]
    lines += [f"| `raysym {name}` | {_cell(helps.get(name) or '')} |" for name in subparsers.choices]
    return "\n".join(lines)


def blocks() -> dict[str, str]:
    """Every generated list by its marker name."""
    return {"table list": tables(), "study flags": flags(study_parser()), "raysym commands": commands()}


def _pattern(name: str) -> re.Pattern:
    return re.compile(re.escape(begin(name)) + r"\n(.*?)" + re.escape(end(name)), re.S)


def written(text: str) -> dict[str, str | None]:
    """Each list as the README has it now (None where its markers are missing)."""
    found = {}
    for name in blocks():
        match = _pattern(name).search(text)
        found[name] = match.group(1).rstrip("\n") if match else None
    return found


def rewrite(text: str) -> str:
    """``text`` with every list between its markers replaced by the code's (a missing marker is an error)."""
    for name, block in blocks().items():
        if not _pattern(name).search(text):
            raise SystemExit(f"README.md has no {begin(name)!r} … {end(name)!r} markers")
        text = _pattern(name).sub(lambda _: f"{begin(name)}\n{block}\n{end(name)}", text)
    return text


if __name__ == "__main__":
    README.write_text(rewrite(README.read_text()))
    print("README.md: " + ", ".join(blocks()) + " rewritten from the code")
