"""One study at a time per output location (raysym.output_lock): in a local folder and in a bucket of the
loopback S3 server, a live holder refuses a second study with a message naming it, a dead one (kill -9)
does not block, and ``raysym report`` shows only finished runs while a study is in progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raysym.artifacts import write_bytes
from raysym.cli import main as raysym_main
from raysym.output_lock import LOCK_NAME, OutputInUse, OutputLock, lock_holder
from raysym.store import ResultStore

REPO = Path(__file__).resolve().parents[1]
HOLD = ("import sys, time; from raysym.output_lock import OutputLock; lock = OutputLock(sys.argv[1], 'holder', "
        "heartbeat_s=0.2); lock.acquire(); print('held', flush=True); time.sleep(600)")


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    return f"s3://{request.getfixturevalue('s3').bucket()}/study"


@pytest.fixture
def holder(location):
    """A process holding ``location``'s lock, killed (-9) at the end if still alive."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, location], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_a_second_study_is_refused_naming_the_holder_and_the_location(location, holder):
    with pytest.raises(OutputInUse, match=rf"output location {location} is in use by study 'holder' "
                                          rf"\(process {holder.pid} on .*since .*\); wait for it to end"):
        OutputLock(location, "second", stale_s=2.0).acquire()
    assert lock_holder(location).pid == holder.pid


def test_a_killed_holder_does_not_block_the_next_study(location, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    begin = time.monotonic()
    with OutputLock(location, "next"):
        assert lock_holder(location).study == "next"
    assert time.monotonic() - begin < 5
    assert lock_holder(location) is None


def test_a_released_lock_is_free_and_taken_again(location):
    with OutputLock(location, "first"):
        pass
    with OutputLock(location, "second"):
        assert lock_holder(location).study == "second"


def test_a_remote_lock_whose_heartbeat_stands_still_is_taken_over(s3):
    """A holder on another machine that died: nothing here can see its process, only that it stopped
    beating."""
    location = f"s3://{s3.bucket()}/study"
    write_bytes(f"{location}/{LOCK_NAME}", json.dumps({"study": "gone", "host": "elsewhere", "pid": 1,
                                                       "started": 0.0, "token": "t", "beat": 7}).encode())
    begin = time.monotonic()
    with OutputLock(location, "next", stale_s=1.0):
        assert time.monotonic() - begin >= 1.0
        assert lock_holder(location).study == "next"


def test_the_study_script_refuses_an_output_location_in_use_before_anything_is_written(tmp_path, capsys):
    from studies.full import main

    out = tmp_path / "out"
    with OutputLock(out, "holder"):
        assert main(["--smoke-test", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"error: output location {out} is in use by study 'holder'" in error
    assert sorted(os.listdir(out)) == [LOCK_NAME]


def test_report_during_a_run_says_so_and_shows_no_unfinished_run(tmp_path, capsys):
    out = tmp_path / "out"
    store = ResultStore(out / "store")
    store.write("trials", [{"study": "s", "trial_id": "t", "model": "teacher", "penalty": "none", "lam": 0.0,
                            "seed": 0, "n_parameters": 1, "best_epoch": 1, "best_val_loss": 0.5, "epochs": 2,
                            "model_path": "models/t.pt", "model_preset": "small", "task": "g_vs_w"}], key="t")
    with OutputLock(out, "s"):
        assert raysym_main(["report", str(out / "store"), "--out", str(tmp_path / "report")]) == 2
    error = capsys.readouterr().err
    assert "a study is in progress in this folder (study 's'" in error
    assert "no study run has finished yet" in error
    assert not (tmp_path / "report").exists()
