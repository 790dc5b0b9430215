"""The cluster that cluster.yaml describes autoscales the smoke study: GPU workers from zero, trials on them.

Runs on a local fake-multinode cluster made from cluster.yaml's own node types (tests/fake_cluster.py),
each worker's GPU replaced by the custom resource ``accelerator``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from raysym.store import load

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_cluster import FakeAutoscalingCluster  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


class WorkerCountPoller(threading.Thread):
    """Records the fake cluster's live worker count every ``period_s`` until stopped."""

    def __init__(self, cluster: FakeAutoscalingCluster, period_s: float = 2.0):
        super().__init__(daemon=True)
        self.cluster, self.period_s = cluster, period_s
        self.counts: list[int] = []
        self.errors: list[str] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            try:
                self.counts.append(self.cluster.worker_count())
            except Exception as error:  # noqa: BLE001 - a failed poll is reported, not fatal
                self.errors.append(repr(error))
            self._stop_event.wait(self.period_s)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=120)


@pytest.mark.slow
def test_the_smoke_study_scales_gpu_workers_up_from_zero_runs_its_trials_on_them_and_scales_down(tmp_path, s3):
    """70–110 s on 2 cores (measured), so marked slow. The faster tests of the same code: the smoke study on a
    local Ray (tests/test_study_pipeline.py) and the YAML's node types (tests/test_launcher_config.py)."""
    # The study writes to the loopback S3 bucket, as it would on a real cluster (the nodes inherit the
    # S3 environment the fixture set).
    out = f"s3://{s3.bucket()}/study"
    with FakeAutoscalingCluster(REPO / "cluster.yaml", tmp_path / "cluster") as cluster:
        env = {**cluster.env, "OMP_NUM_THREADS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        # The head offers neither CPU nor the accelerator: every trial (asking for accelerator=1) must run
        # on a worker the autoscaler launched for it.
        head = cluster.head()
        assert head["resources"].get("CPU", 0) == 0 and "accelerator" not in head["resources"]
        assert cluster.worker_count() == 0

        poller = WorkerCountPoller(cluster)
        poller.start()
        started = time.monotonic()
        try:
            study = subprocess.run(
                [sys.executable, "studies/full.py", "--smoke-test", "--address", cluster.address,
                 "--out", out, "--trial-resource", "accelerator=1"],
                cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        finally:
            poller.stop()
        study_seconds = time.monotonic() - started
        log = f"--- stdout\n{study.stdout[-4000:]}\n--- stderr\n{study.stderr[-6000:]}"
        assert study.returncode == 0, log
        assert max(poller.counts, default=0) >= 1, (poller.counts, poller.errors)

        # Idle workers go (idle_timeout_minutes 0.1 in the fake config): back to zero.
        deadline = time.monotonic() + 90
        while cluster.worker_count() and time.monotonic() < deadline:
            time.sleep(2)
        assert cluster.worker_count() == 0
    print(f"smoke study on the fake cluster: {study_seconds:.0f} s; worker counts polled: {poller.counts}")

    trials = load(f"{out}/store", "trials")
    assert sorted(t.rsplit("-", 1)[0] for t in trials["trial_id"]) == ["teacher-s0", "teacher-seal-0.1-s0"], log
