"""The study on a simulated multi-node cluster with its output in a real S3 bucket (moto's server on
loopback): everything lands in the bucket and is read back from it, and the study survives the loss of a
worker node mid-training and mid-analysis, and the loss of its driver.

The cluster is ``ray.cluster_utils.Cluster``: a head with no CPUs (so no trial or task can run where the
driver is) and two one-CPU worker nodes, all raylets on this machine; removing a node kills its raylet
and every worker process on it, as a lost machine would. The drivers run as their own processes
(``studies/full.py``, or ``tests/cluster_study.py`` for settings the command line does not expose), so
a test can kill one and the test session's own Ray is never involved.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray._private import ray_constants

from raysym import artifacts
from raysym.store import ResultStore
from raysym.training.checkpoint import load_best_model

REPO = Path(__file__).resolve().parents[1]
TABLES = ("trials", "epochs", "evaluations", "roc", "hessian", "spectrum", "goldstone", "smearing", "distillation",
          "students", "studies")


@pytest.fixture
def cluster(s3):
    """A head without CPUs and two one-CPU workers; the S3 environment reaches every node (they inherit
    this process's environment, which the ``s3`` fixture set)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    cluster.shutdown()


def start(command: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(REPO / command[0]), *command[1:]], cwd=cwd, env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 400) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-4000:]
    return output


def outcome_of(output: str) -> dict:
    """The outcome ``tests/cluster_study.py`` printed."""
    return json.loads(next(line for line in output.splitlines() if line.startswith("OUTCOME "))[len("OUTCOME "):])


def node_loss_hit_work(output: str) -> bool:
    """Whether Ray reported work lost with its node (a trial's actor, or a task it then retried), so the
    test really removed a node that was busy."""
    return any("node" in line and ("has died" in line or "is dead" in line) for line in output.splitlines())


def wait_for(condition, timeout: float = 300, what: str = "condition") -> float:
    """Poll ``condition`` until it holds; return the seconds it took."""
    begin = time.monotonic()
    while not condition():
        assert time.monotonic() - begin < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - begin


def checkpoints(s3, bucket: str, prefix: str) -> list[str]:
    return [k for k in s3.keys(bucket, prefix) if "/checkpoint_" in k and k.endswith("checkpoint.pt")]


@pytest.mark.slow
def test_smoke_study_on_two_nodes_puts_every_table_model_and_figure_in_the_bucket(cluster, s3, tmp_path):
    """A minute: slow, with the other cluster tests CI runs after the README's command (.ci/run). The S3 path
    is covered faster by tests/test_artifacts.py and tests/test_store.py, two nodes by
    tests/test_stages_evaluation.py."""
    head, workers = cluster
    bucket = s3.bucket()
    out = f"s3://{bucket}/study"
    started = time.perf_counter()
    output = finish(start(["studies/full.py", "--smoke-test", "--address", head.address, "--out", out], tmp_path))
    seconds = time.perf_counter() - started
    assert not any(tmp_path.iterdir()), "the study wrote to the local working directory"
    store = ResultStore(f"{out}/store")
    assert set(TABLES) <= set(store.tables())
    trials = store.load("trials")
    assert len(trials) == 2 and trials["trial_id"].is_unique
    for table in TABLES[1:]:
        assert len(store.load(table)) > 0, table
    # SPREAD scheduling hands the evaluations round both workers.
    assert set(store.load("evaluations")["node_id"]) == {w.node_id for w in workers}
    for path in [*trials["model_path"], *store.load("students")["model_path"], *store.load("hessian")["nu1_path"]]:
        assert path.startswith(f"{out}/models/")
    model, config, _ = load_best_model(trials["model_path"].iloc[0])
    assert config.model == "teacher" and sum(p.numel() for p in model.parameters()) > 0
    keys = s3.keys(bucket, "study/")
    assert sum(k.startswith("study/models/") and ".logits-" in k for k in keys) == 2
    assert sum(k.startswith("study/data/generated-") and k.endswith(".h5") for k in keys) == 4
    assert any(k.startswith("study/tune/") for k in keys)
    for name in ("report.md", "report.html", "figures/roc.png", "figures/curvature.pdf"):
        assert f"study/report/{name}" in keys
    assert "# " in artifacts.read_bytes(f"{out}/report/report.md").decode()
    assert f"{out}/report/report.html" in output
    print(f"smoke study on S3, two nodes: {seconds:.1f} s")


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: a node's workers are started by its raylet)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                kids = [int(child) for child in children.read_text().split()]
                found += kids
                todo += kids
    return found


def process_title(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    return ""


def running_a_task(node) -> bool:
    """Whether a worker process of ``node`` is executing a fan-out task now: Ray titles a worker
    ``ray::run_task`` while it runs one (:func:`raysym.fanout.run_task`) and ``ray::IDLE`` between tasks."""
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    return any(process_title(pid) == "ray::run_task" for pid in descendants(raylet))


def lose_a_worker_while(cluster, out: str, overrides: dict, cwd: Path, busy, what: str):
    """Run the smoke study (without distillation) with ``overrides`` into ``out``; once ``busy(workers)``
    names a worker node, remove it. Return the outcome, the store, the seconds from the loss to the study's
    end and the driver's output, after checking that the driver finished."""
    head, workers = cluster
    driver = start(["tests/cluster_study.py", head.address, out,
                    json.dumps({**overrides, "distillation": {"enabled": False}})], cwd)
    found: list = []
    wait_for(lambda: found.append(busy(workers)) or found[-1] is not None, what=what)
    lost = time.monotonic()
    head.remove_node(found[-1])
    output = finish(driver)
    return outcome_of(output), ResultStore(f"{out}/store"), time.monotonic() - lost, output


@pytest.mark.slow
def test_losing_a_worker_node_mid_training_still_stores_every_trial_once(cluster, s3, tmp_path):
    """Covered faster by the FailureConfig retry tests (test_stages_training, test_stages_distillation):
    the same resume-from-checkpoint path, with the failure raised inside the trial instead."""
    bucket = s3.bucket()
    out = f"s3://{bucket}/study"
    epochs = 25
    outcome, store, recovery, output = lose_a_worker_while(
        cluster, out, {"recipe": {"epochs": epochs}}, tmp_path,
        lambda workers: workers[0] if len(checkpoints(s3, bucket, "study/tune/")) >= 4 else None,
        "training checkpoints")
    assert node_loss_hit_work(output)
    trials, history = store.load("trials"), store.load("epochs")
    assert outcome["errors"] == [] and len(trials) == 2 and trials["trial_id"].is_unique
    assert (trials["epochs"] == epochs).all()
    assert history.groupby("trial_id")["epoch"].apply(sorted).tolist() == [list(range(1, epochs + 1))] * 2
    hessian = store.load("hessian")
    assert len(store.load("evaluations")) == 2 * 3
    assert hessian["trial_id"].nunique() == 2 and not hessian.duplicated(["trial_id", "k"]).any()
    print(f"node lost mid-training: the study finished {recovery:.1f} s later")


@pytest.mark.slow
def test_losing_a_worker_node_mid_analysis_still_stores_every_analysis_once(cluster, s3, tmp_path):
    """Covered faster by the analysis-stage tests (test_stages_analyses), which run the same tasks on one
    node; Ray retries a task whose node died (``raysym.fanout``), and the store keys make a retry
    overwrite rather than duplicate."""
    bucket = s3.bucket()
    out = f"s3://{bucket}/study"
    heavy = {"trace_probes": 48, "probes_per_task": 2, "hessian_jets": 96, "lanczos_steps": 8, "eigen_restarts": 2}

    def analysing(workers):
        """A worker running an analysis task: the evaluation stage is over (both trials' rows stored, and it
        runs before the analyses), and the node's worker is titled with a task it executes now."""
        evaluated = [k for k in s3.keys(bucket, "study/store/evaluations/") if k.endswith(".parquet")]
        if len(evaluated) < 2:
            return None
        return next((node for node in workers if running_a_task(node)), None)

    outcome, store, recovery, output = lose_a_worker_while(cluster, out, {"analyses": heavy}, tmp_path, analysing,
                                                           "a worker running an analysis task")
    trials = store.load("trials")
    assert outcome["errors"] == [] and outcome["analysed"]["hessian"] == 2
    hessian, smearing, goldstone = store.load("hessian"), store.load("smearing"), store.load("goldstone")
    assert set(hessian["trial_id"]) == set(trials["trial_id"]) and not hessian.duplicated(["trial_id", "k"]).any()
    assert (hessian["n_probes"] == heavy["trace_probes"]).all()
    assert len(smearing) == 2 * 2 and not smearing.duplicated(["trial_id", "sigma"]).any()
    assert goldstone.groupby("trial_id").size().nunique() == 1
    print(f"node lost mid-analysis: the study finished {recovery:.1f} s later (Ray logged the lost work: "
          f"{node_loss_hit_work(output)})")


@pytest.mark.slow
def test_a_killed_driver_reruns_to_the_end_without_retraining_finished_trials(cluster, s3, tmp_path):
    """Covered faster by the rerun tests of test_study_pipeline (a rerun trains nothing it has) and the
    Tune restore test of test_stages_training."""
    head, _ = cluster
    bucket = s3.bucket()
    out = f"s3://{bucket}/study"
    command = ["studies/full.py", "--smoke-test", "--address", head.address, "--out", out, "--epochs", "20",
               "--seeds", "0", "1"]
    driver = start(command, tmp_path)
    final = "checkpoint_000019/checkpoint.pt"
    wait_for(lambda: any(k.endswith(final) for k in checkpoints(s3, bucket, "study/tune/")), what="a finished trial")
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    finished = {"/".join(k.split("/")[:4]) + "/" for k in checkpoints(s3, bucket, "study/tune/") if k.endswith(final)}
    before = {folder: set(checkpoints(s3, bucket, folder)) for folder in finished}
    rerun = time.monotonic()
    finish(start(command, tmp_path))
    seconds = time.monotonic() - rerun
    for folder, kept in before.items():  # nothing new (older ones are pruned once a trial is collected)
        after = set(checkpoints(s3, bucket, folder))
        assert after and after <= kept, f"{folder} was trained again"
    trials = ResultStore(f"{out}/store").load("trials")
    assert len(trials) == 4 and trials["trial_id"].is_unique and (trials["epochs"] == 20).all()
    print(f"driver killed with {len(finished)} trial(s) finished; the rerun finished the study in {seconds:.1f} s")
