"""The ``raysym`` console script (raysym.cli): every command ends the same way, with one line on stderr and
no traceback, for a store nobody answers at, for a reader that stops reading, and for raysym's warnings."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from raysym.cli import BROKEN_PIPE_STATUS, main
from raysym.store import ResultStore


@pytest.mark.parametrize("command", [["query", "SELECT 1"], ["report", "--out", "{out}"]])
def test_a_store_nobody_answers_at_is_one_error_line_and_status_2(unreachable, command, capsys, tmp_path):
    name, *rest = command
    assert main([name, unreachable, *[part.format(out=tmp_path / "report") for part in rest]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"raysym {name}: error: result store {unreachable} cannot be reached: ")
    assert "connect" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "report").exists()


@pytest.fixture
def store_path(tmp_path):
    """A store of one trial, for queries that print many rows."""
    store = ResultStore(tmp_path / "store")
    store.write("trials", [{"study": "demo", "trial_id": "t0", "model": "teacher", "penalty": "none", "lam": 0.0,
                            "seed": 1, "n_parameters": 10, "best_epoch": 1, "best_val_loss": 0.4, "epochs": 2,
                            "model_path": "m.pt", "model_preset": "tiny", "task": "g_vs_w"}], key="t0")
    return store.uri


@pytest.mark.parametrize("csv", [[], ["--csv"]])
def test_a_reader_that_stops_after_one_line_ends_the_query_quietly(store_path, csv):
    """``raysym query … | head -1``: far more output than a pipe holds, and the reader gone after a line."""
    sql = "SELECT t.trial_id, r.range AS i FROM trials t, range(100000) r"
    process = subprocess.Popen([sys.executable, "-m", "raysym.cli", "query", store_path, sql, *csv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == BROKEN_PIPE_STATUS
    assert first.split()[:2] in ([b"trial_id", b"i"], [b"trial_id,i"])
    assert err == ""  # no traceback, not even Python's "Exception ignored" at exit


def test_warnings_are_lines_on_stderr_only_while_a_command_runs(store_path, capsys):
    (ResultStore(store_path).fs.open_output_stream(f"{store_path}/trials/junk.parquet")).close()
    assert main(["query", store_path, "SELECT count(*) AS n FROM trials", "--csv"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["n", "1"]
    assert captured.err.startswith(f"raysym query: warning: table 'trials': file {store_path}/trials/junk.parquet: "
                                   "not a readable Parquet file")
    assert not any(isinstance(h, logging.Handler) and type(h).__name__ == "_StderrLines"
                   for h in logging.getLogger("raysym").handlers)


def test_the_listed_help_of_every_command_is_its_modules_own():
    import argparse

    from raysym.cli import COMMANDS, build_parser

    whole = build_parser()
    subparsers = next(a for a in whole._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest: c.help for c in subparsers._choices_actions} == {n: h for n, (_, h) in COMMANDS.items()}
    light = build_parser("")
    listed = next(a for a in light._actions if isinstance(a, argparse._SubParsersAction))
    assert [c.dest for c in listed._choices_actions] == [c.dest for c in subparsers._choices_actions]


@pytest.mark.parametrize("argv", [["--help"], ["query", "--help"]])
def test_help_and_query_start_without_importing_torch(argv):
    """``raysym --help`` and ``raysym query`` import no command module that loads torch (seconds)."""
    code = ("import sys; from raysym.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr
