"""Ctrl-C ends a study, stores nothing unfinished, and the same command resumes it.

Each test starts ``studies/full.py`` as its own process in its own process group with SIGINT at its
default (a process started from a background job ignores SIGINT, which would prove nothing), waits for a
sign that the stage to interrupt is under way, and sends SIGINT to the whole group, as a terminal's
Ctrl-C does. Three real study runs take about 100 s, so the test is ``slow`` and runs in CI after the
README's test command (.ci/run); tests/test_stages_tune_trials.py checks the same mechanism in seconds.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyarrow.fs import LocalFileSystem

from raysym.stages.checkpoint_pruning import stored_state_names
from raysym.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 60


def start_study(out: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(REPO / "studies" / "full.py"), "--smoke-test", "--out", str(out),
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt_when(process: subprocess.Popen, ready, timeout: float = 300) -> tuple[int, str, float]:
    """SIGINT to the study's process group once ``ready()`` holds; (exit status, output, seconds from the
    signal to the exit)."""
    begin = time.monotonic()
    while not ready():
        assert process.poll() is None, "the study ended before it could be interrupted:\n" + process.stdout.read()
        assert time.monotonic() - begin < timeout, "timed out waiting for the stage to interrupt"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    sent = time.monotonic()
    output, _ = process.communicate(timeout=120)
    return process.returncode, output, time.monotonic() - sent


def checkpoint_folders(out: Path) -> dict[str, list[str]]:
    """Trial folder -> its Tune checkpoint folders."""
    folders: dict[str, list[str]] = {}
    for path in glob.glob(str(out / "tune" / "*" / "*" / "checkpoint_*")):
        folders.setdefault(os.path.dirname(path), []).append(os.path.basename(path))
    return folders


def reported_epochs(out: Path) -> list[list[int]]:
    """The epochs each training trial reported to Tune, over every run of its experiment (Tune's result.json;
    the students' experiment left out)."""
    return [[json.loads(line)["epoch"] for line in open(path)]
            for path in sorted(glob.glob(str(out / "tune" / "*" / "*" / "result.json"))) if "-distill-" not in path]


def run_study(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "studies" / "full.py"), "--smoke-test", "--out", str(out),
                           *args], cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ctrl_c_in_training_then_after_it_stores_nothing_unfinished_and_each_rerun_resumes(tmp_path):
    """One study, interrupted twice and then finished: Ctrl-C in training must not store half-trained
    trials as finished (Tune catches the signal and returns normally), and Ctrl-C after training must
    not be swallowed (Tune's handler stayed installed after its run)."""
    out, epochs = tmp_path / "study", ("--epochs", str(EPOCHS))
    store = ResultStore(out / "store")

    # 1. In training, several epochs into a trial: it has made more checkpoints than it keeps.
    ready = lambda: any(max(f) >= "checkpoint_000004" for f in checkpoint_folders(out).values())  # noqa: E731
    status, output, seconds = interrupt_when(start_study(out, *epochs), ready)
    assert status == 130, output[-3000:]
    assert "interrupted during training; nothing unfinished was stored" in output
    assert f"Resume with the same command: python studies/full.py --smoke-test --out {out} --epochs {EPOCHS}" in output
    assert seconds < 30, f"{seconds:.1f} s from Ctrl-C to the exit"
    assert "study quick-smoke:" not in output  # no later stage ran
    assert store.keys("trials") == [] and store.keys("epochs") == [] and store.keys("evaluations") == []
    named = stored_state_names(LocalFileSystem(), str(next((out / "tune").iterdir())))
    assert named, "the stored experiment state names no checkpoint"
    for folder, checkpoints in checkpoint_folders(out).items():  # what a restore reads is still there
        if os.path.basename(folder) in named:
            assert f"checkpoint_{named[os.path.basename(folder)]:06d}" in checkpoints, (folder, checkpoints)

    # 2. The rerun resumes the trials; Ctrl-C once it evaluates them.
    status, output, seconds = interrupt_when(start_study(out, *epochs), lambda: len(store.keys("evaluations")) > 0)
    assert status == 130, output[-3000:]
    assert "interrupted during evaluation" in output or "interrupted during analyses" in output, output[-2000:]
    assert seconds < 30, f"{seconds:.1f} s from Ctrl-C to the exit"
    assert len(store.keys("trials")) == 2 and store.keys("studies") == []
    trials = store.load("trials")
    assert (trials["epochs"] == EPOCHS).all() and not trials["stopped_early"].any()
    for reported in reported_epochs(out):  # resumed, not started again: no trial reported its first epoch twice
        assert reported.count(1) == 1 and max(reported) == EPOCHS, reported

    # 3. The last rerun trains nothing and completes the rest, storing every row once.
    rerun = run_study(out, *epochs)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert "0 trial(s) trained" in rerun.stdout
    rows = store.load("epochs")
    assert sorted(rows.groupby("trial_id")["epoch"].apply(list).map(tuple)) == [tuple(range(1, EPOCHS + 1))] * 2
    for table, key in {"evaluations": ["trial_id", "task"], "hessian": ["trial_id", "k"],
                       "smearing": ["trial_id", "task", "sigma"],
                       "goldstone": ["trial_id", "direction", "epsilon"]}.items():
        rows = store.load(table)
        assert not rows.empty and not rows.duplicated(subset=key).any(), table
    assert len(store.keys("studies")) == 1
