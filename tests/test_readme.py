"""The README's lists of tables, study flags and commands are the code's (tests/readme_blocks.py makes them)."""

import argparse

import pytest

from raysym.tables import FLOAT, TABLES, Table
from tests.readme_blocks import README, blocks, flags, rewrite, tables, written


def test_the_readme_lists_every_table_flag_and_command_as_the_code_defines_them():
    text = README.read_text()
    have = written(text)
    for name, block in blocks().items():
        assert have[name] is not None, f"README.md lost its {name} markers"
        assert have[name] == block, f"README.md's {name} is not the code's: run `python -m tests.readme_blocks`"
    assert rewrite(text) == text


def test_a_table_added_to_the_code_makes_the_readme_stale(monkeypatch):
    monkeypatch.setitem(TABLES, "new_table", Table(required={"x": FLOAT}, rows="one new thing"))
    assert "| `new_table` | one new thing | `x` |" in tables()
    assert written(README.read_text())["table list"] != tables()


def test_every_table_says_what_a_row_is():
    assert [name for name, table in TABLES.items() if not table.rows.startswith("one ")] == []


def test_a_flag_without_help_cannot_be_listed():
    parser = argparse.ArgumentParser()
    parser.add_argument("--silent", type=int)
    with pytest.raises(AssertionError, match="--silent has no help text"):
        flags(parser)
