"""Every code block of README.md runs as written, against a smoke study's output, or is listed here with why it
cannot run on a laptop; a block added to the README that is neither fails.

The README's examples read the quick study's output, ``raysym-runs/quick``, relative to where they are
typed. So the blocks run, unchanged, in a folder whose ``raysym-runs/quick`` is a smoke study made once for
this module: no text of a block is replaced. How a block runs follows from its kind:

- a shell block (indented, or fenced as sh/bash/shell/console) runs when each of its commands is a
  ``raysym`` command or ``python -c``; each command runs through bash in that folder;
- a ``python`` block runs as a script there; an ``sql`` block runs through
  ``raysym query raysym-runs/quick/store``.

A block holding a command that cannot run on a laptop (pip, pytest, a full study, a cloud cluster, SLURM, a
bucket named by a placeholder) is not run: :data:`NOT_RUN` lists those commands, each with the reason. The SQL
of a ``raysym query`` in such a block still runs, against the smoke study's store. A block with any other
command, or in another language, fails until it runs here or is listed. A query or a script that prints no
rows fails, so a query that silently selects nothing is caught, not only one that stops with an error.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from raysym.store import TRIAL_KEYS, ResultStore
from tests.readme_blocks import README, REPO
from tests.results_store import two_run_study

#: Where the README's examples find a study's output, relative to the folder they are typed in.
STUDY = Path("raysym-runs") / "quick"
STORE = f"{STUDY.as_posix()}/store"

#: The commands that cannot run here, as patterns, and why. A block holding one is not run (the SQL of each
#: ``raysym query`` in it still is, against the smoke study's store).
NOT_RUN: dict[str, str] = {
    r"^pip install\b": "installs packages",
    r"^python -m pytest\b": "runs the test suite this module is part of",
    r"^python studies/full\.py\b": "runs a whole study: minutes on a laptop, hours on GPUs (this module's smoke "
                                   "study runs its code)",
    r"^ray\b": "starts, uses or stops a Ray cluster in the cloud (ray up, ray job submit, ray down)",
    r"^(sbatch|srun|salloc|squeue|scancel)\b": "needs a SLURM cluster",
    r"s3://BUCKET\b": "names its bucket by a placeholder",
}
#: Fence languages of text that is not a command, and why it is not run.
NOT_CODE: dict[str, str] = {language: "a file's text or a command's output, not a command"
                            for language in ("yaml", "yml", "toml", "json", "ini", "text", "txt", "output")}

#: Fence languages of shell commands; an indented block has none.
SHELL = {"", "sh", "bash", "shell", "console"}
#: How long one command may take: `raysym report` draws every figure (about 30 s on 2 busy cores).
TIMEOUT_S = 300


@dataclass(frozen=True)
class Block:
    """One code block of the README: the line it starts on, its fence language ("" when indented), its text."""

    line: int
    language: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0].strip() if self.text.strip() else ""

    def commands(self) -> list[str]:
        """The block's shell commands, one per logical line (a line ending in a backslash goes on), each without
        a ``$ `` prompt."""
        commands, pending = [], ""
        for line in self.text.splitlines():
            pending += line.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            command = pending.strip().removeprefix("$ ")
            if command and not command.startswith("#"):
                commands.append(command)
            pending = ""
        return commands


def readme_blocks(text: str) -> list[Block]:
    """The README's code blocks, fenced and indented, as CommonMark finds them (an indented line in a list is
    not a block)."""
    found = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type in ("fence", "code_block"):
            language = token.info.strip().split()[0].lower() if token.info.strip() else ""
            found.append(Block(token.map[0] + 1, language, token.content))
    return found


def argv(command: str) -> list[str]:
    return shlex.split(command, comments=True)


def runnable(command: str) -> bool:
    """A ``raysym`` command or ``python -c``: what reads a study's output on a laptop."""
    words = argv(command)
    return bool(words) and (words[0] == "raysym" or words[:2] == ["python", "-c"])


def not_run(command: str) -> list[str]:
    """Why ``command`` cannot run here (:data:`NOT_RUN`); empty when nothing stops it."""
    return [why for pattern, why in NOT_RUN.items() if re.search(pattern, command)]


def kind(block: Block) -> str:
    """How the block runs: "python", "sql", "shell", or "listed" (a command or a language that cannot run here)."""
    if block.language in ("python", "py"):
        return "python"
    if block.language == "sql":
        return "sql"
    if block.language in NOT_CODE:
        return "listed"
    commands = block.commands() if block.language in SHELL else []
    if any(not_run(c) for c in commands):
        return "listed"
    unknown = [c for c in commands if not runnable(c)]
    if commands and not unknown:
        return "shell"
    raise AssertionError(f"README.md line {block.line}: a block that is neither run here nor listed "
                         f"(NOT_RUN or NOT_CODE in tests/test_readme_examples.py) with why it cannot run: "
                         f"{(unknown or [block.first_line])[0]!r}")


BLOCKS = readme_blocks(README.read_text())


# ---- The smoke study the examples read ----


@pytest.fixture(scope="module")
def examples_dir(ray_local, tmp_path_factory):
    """A folder whose ``raysym-runs/quick`` holds a smoke study's output: the session's two-run smoke study
    (tests/results_store.py), which the results API's and the notebook's tests read too."""
    study = two_run_study(tmp_path_factory)
    assert study.out.parts[-2:] == STUDY.parts
    return study.out.parents[1]


def shell(command: str, folder: Path) -> subprocess.CompletedProcess:
    """``command`` through bash in ``folder``, as a reader would type it: ``python`` and ``raysym`` are this
    interpreter's, and raysym is imported from this checkout."""
    env = {**os.environ, "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def check_output(done: subprocess.CompletedProcess, what: str, least_lines: int) -> None:
    """The command succeeded and printed at least ``least_lines`` lines (a query: its header and a row), none
    of them saying there were no rows."""
    said = f"{what}\nexit status {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, said
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) >= least_lines and not done.stdout.startswith("(no rows") and \
        "Empty DataFrame" not in done.stdout, f"no rows printed: {said}"


def least_lines(command: str) -> int:
    """What a command must print: a query its header and a row, ``python -c`` a line, other commands nothing."""
    words = argv(command)
    return 2 if words[:2] == ["raysym", "query"] else 1 if words[:2] == ["python", "-c"] else 0


def query_sql(command: str) -> str | None:
    """The SQL of a ``raysym query STORE "SQL"`` command, or None for another command."""
    words = argv(command)
    if words[:2] != ["raysym", "query"]:
        return None
    positional = [w for w in words[2:] if not w.startswith("-")]
    assert len(positional) == 2, f"raysym query needs a store and one SQL argument: {command}"
    return positional[1]


# ---- The blocks ----


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_a_readme_block_runs_as_written_and_prints_rows(block, examples_dir, tmp_path):
    how = kind(block)
    if how == "shell":
        for command in block.commands():
            check_output(shell(command, examples_dir), command, least_lines(command))
    elif how == "python":
        script = tmp_path / f"readme_line{block.line}.py"
        script.write_text(block.text)
        check_output(shell(f"python {shlex.quote(str(script))}", examples_dir),
                     f"the script at README.md line {block.line}:\n{block.text}", 1)
    elif how == "sql":
        command = f"raysym query {STORE} {shlex.quote(block.text)}"
        check_output(shell(command, examples_dir), command, 2)
    else:  # listed: the queries it holds still run, against the smoke study's store
        for sql in filter(None, map(query_sql, block.commands())):
            command = f"raysym query {STORE} {shlex.quote(sql)}"
            check_output(shell(command, examples_dir), command, 2)


def test_the_readme_has_blocks_that_run_here_and_queries_that_run():
    """Guards the mechanism itself: blocks are found, and some of them run rather than all being listed."""
    run = [block for block in BLOCKS if kind(block) != "listed"]
    queries = [c for block in BLOCKS if block.language in SHELL for c in block.commands() if query_sql(c)]
    assert len(run) >= 2 and len(queries) >= 2


def test_a_block_neither_run_nor_listed_fails_naming_its_line_and_command():
    text = "Intro.\n\n    raysym plot S\n    make figures\n\n```rust\nfn main() {}\n```\n"
    first, second = readme_blocks(text)
    with pytest.raises(AssertionError, match="README.md line 3: a block that is neither run .*'make figures'"):
        kind(first)
    with pytest.raises(AssertionError, match=r"README.md line 6: a block that is neither run .*'fn main\(\) {}'"):
        kind(second)


def test_a_block_with_a_command_that_cannot_run_here_is_listed_and_its_queries_still_found():
    text = ("    sbatch slurm/study.sbatch\n    raysym query s3://BUCKET/store \"SELECT 1\"\n\n"
            "```yaml\nkey: 1\n```\n")
    block, config = readme_blocks(text)
    assert kind(block) == "listed" and kind(config) == "listed"
    assert not_run(block.commands()[0]) == ["needs a SLURM cluster"]
    assert not_run(block.commands()[1]) == ["names its bucket by a placeholder"]
    assert [query_sql(c) for c in block.commands()] == [None, "SELECT 1"]


def test_blocks_are_found_fenced_and_indented_and_continued_lines_join():
    text = ("Text\n\n    raysym query S \\\n        \"SELECT 1\"   # a comment\n    raysym plot S\n\n"
            "```python\nprint(1)\n```\n\n- a list item\n    continued, not a block\n")
    found = readme_blocks(text)
    assert [(b.line, b.language) for b in found] == [(3, ""), (7, "python")]
    assert [argv(c) for c in found[0].commands()] == [["raysym", "query", "S", "SELECT 1"], ["raysym", "plot", "S"]]
    assert query_sql(found[0].commands()[0]) == "SELECT 1" and kind(found[0]) == "shell"


# ---- What the examples rely on: every row carries its trial's keys and bias ----


def test_every_per_trial_table_of_a_smoke_study_stores_the_trial_keys_and_bias_in_every_file(examples_dir):
    store = ResultStore(examples_dir / STUDY / "store")
    lacking = {}
    for table in store.tables():
        for path, schema in store.checked_files(table).items():
            if "trial_id" in schema.names:
                missing = [c for c in (*TRIAL_KEYS, "bias") if c not in schema.names]
                if missing:
                    lacking[re.sub(r".*/store/", "", path)] = missing
    assert store.tables() and lacking == {}
