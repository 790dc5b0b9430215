"""Stage 2 evaluation: the plain function's metrics and ROC, the Ray stage's rows, resume, two-node spread."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from raysym.errors import ConfigError, DataError
from raysym.metrics import roc_auc
from raysym.models.predict import predict_logits
from raysym.stages.evaluation import EvaluationSettings, evaluate_model_file, run_evaluation_stage, thin_roc
from raysym.store import TRIAL_KEYS, ResultStore
from raysym.training.checkpoint import load_best_model
from tests.synthetic import CLASS_LABELS, trained_study

REPO = Path(__file__).resolve().parents[1]
TASKS = ("g_vs_w", "g_vs_z", "g_vs_t")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four one-epoch models trained on g_vs_w, their best-model files, a trials table and the test jets."""
    return trained_study(tmp_path_factory.mktemp("stage2"))


def test_plain_function_gives_each_task_the_auc_of_its_logits(study):
    path = study["trials"].model_path[0]
    rows, roc = evaluate_model_file(path, study["test"], EvaluationSettings(roc_points=20))
    assert [r["task"] for r in rows] == list(TASKS)
    model, _, _ = load_best_model(path)
    for row in rows:
        view = study["test"].for_task(row["task"])
        logits = predict_logits(model, torch.from_numpy(view.p4), torch.from_numpy(view.mask))
        assert row["roc_auc"] == pytest.approx(roc_auc(logits, view.y), abs=1e-12)
        assert row["n_jets"] == len(view) == row["n_signal"] + row["n_background"]
        assert row["split"] == "test" and 0 <= row["accuracy"] <= 1 and row["bce"] > 0


def test_roc_is_thinned_monotone_and_keeps_the_endpoints(study):
    _, roc = evaluate_model_file(study["trials"].model_path[0], study["test"], EvaluationSettings(roc_points=20))
    for task, curve in pd.DataFrame(roc).groupby("task", sort=False):
        assert 2 < len(curve) <= 20, task
        assert (np.diff(curve.fpr) >= 0).all() and (np.diff(curve.tpr) >= 0).all()
        assert (curve.fpr.iloc[0], curve.tpr.iloc[0]) == (0, 0) and (curve.fpr.iloc[-1], curve.tpr.iloc[-1]) == (1, 1)


def test_thinning_spreads_points_evenly_in_signal_efficiency():
    # A curve of 1,001 points that reaches full signal efficiency before full background efficiency.
    tpr = np.r_[np.linspace(0, 1, 801), np.ones(200)]
    fpr = np.r_[np.linspace(0, 0.5, 801), np.linspace(0.5025, 1, 200)]
    f, t, _ = thin_roc(fpr, tpr, -fpr, max_points=11)
    assert len(f) == 11 and (f[0], t[0], f[-1], t[-1]) == (0, 0, 1, 1)
    assert np.abs(t[:10] - np.linspace(0, 1, 10)).max() <= 1 / 800
    assert f[9] == 0.5  # the lowest background efficiency that reaches ε_S = 1


@pytest.mark.parametrize("settings,message", [
    ({"roc_points": 1}, "two endpoints"),
    ({"tasks": ("g_vs_w", "")}, "a task is named by a non-empty string"),
    ({"tasks": ()}, "no evaluation tasks"),
    ({"batch_size": 0}, "batch size must be a positive integer"),
    ({"cpus_per_task": 0}, "cpus per task must be > 0"),
])
def test_impossible_evaluation_settings_fail_when_made(settings, message):
    with pytest.raises(ConfigError, match=message):
        EvaluationSettings(**settings)


def test_missing_task_class_raises_unless_skipping_is_asked(study, caplog):
    test = study["test"]
    no_top = test.subset(test.label != CLASS_LABELS["t"])
    path = study["trials"].model_path[0]
    with pytest.raises(DataError, match="'t'"):
        evaluate_model_file(path, no_top)
    rows, roc = evaluate_model_file(path, no_top, skip_missing=True)
    assert [r["task"] for r in rows] == ["g_vs_w", "g_vs_z"] and "g_vs_t" in caplog.text
    assert {r["task"] for r in roc} == {"g_vs_w", "g_vs_z"}


def test_a_missing_model_file_stops_the_stage_with_an_error_naming_its_trial(study, tmp_path):
    trials = study["trials"].iloc[:2].copy()
    trials.loc[trials.index[1], "model_path"] = str(tmp_path / "gone.pt")
    with pytest.raises(DataError, match=r"trial t1 failed: .*gone.pt does not exist"):
        run_evaluation_stage(ResultStore(tmp_path / "store"), trials, study["test"], progress=False, use_ray=False)


def test_ray_stage_writes_rows_per_trial_and_task_with_trial_keys(ray_local, study, tmp_path):
    store = ResultStore(tmp_path / "store")
    trials = study["trials"].iloc[:3]
    new = run_evaluation_stage(store, trials, study["test"], progress=False)
    evaluations, roc = store.load("evaluations"), store.load("roc")
    assert len(new) == len(evaluations) == 3 * len(TASKS)
    assert set(zip(evaluations.trial_id, evaluations.task)) == {(t, k) for t in trials.trial_id for k in TASKS}
    assert evaluations.node_id.notna().all()
    for table in (evaluations, roc):
        assert set(TRIAL_KEYS) <= set(table.columns) and table[list(TRIAL_KEYS)].notna().all().all()
    assert set(roc.groupby(["trial_id", "task"]).size().index) == set(zip(evaluations.trial_id, evaluations.task))
    # The stage's numbers are the plain function's numbers.
    rows, _ = evaluate_model_file(trials.model_path.iloc[0], study["test"])
    first = evaluations[evaluations.trial_id == "t0"].set_index("task")
    assert [first.roc_auc[r["task"]] for r in rows] == pytest.approx([r["roc_auc"] for r in rows])


def test_rerun_evaluates_only_trials_not_in_the_store(ray_local, study, tmp_path):
    store = ResultStore(tmp_path / "store")
    run_evaluation_stage(store, study["trials"].iloc[:2], study["test"], progress=False)
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")}
    assert run_evaluation_stage(store, study["trials"].iloc[:2], study["test"], progress=False).empty
    new = run_evaluation_stage(store, study["trials"].iloc[:3], study["test"], progress=False)
    assert set(new.trial_id) == {"t2"}
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())


def test_stage_runs_without_ray_and_matches(study, tmp_path):
    store = ResultStore(tmp_path / "store")
    new = run_evaluation_stage(store, study["trials"].iloc[:1], study["test"], progress=False, use_ray=False)
    rows, _ = evaluate_model_file(study["trials"].model_path[0], study["test"])
    assert list(new.roc_auc) == [r["roc_auc"] for r in rows]


TWO_NODE_SCRIPT = textwrap.dedent("""
    import json, pickle, sys, time
    import ray
    from ray.cluster_utils import Cluster
    from raysym.stages.evaluation import run_evaluation_stage
    from raysym.store import ResultStore

    out = sys.argv[1]
    with open(f"{out}/inputs.pkl", "rb") as f:
        trials, test = pickle.load(f)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    start = time.perf_counter()
    new = run_evaluation_stage(ResultStore(f"{out}/store"), trials, test, progress=False)
    seconds = time.perf_counter() - start
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    print(json.dumps({"used": sorted(set(new.node_id)), "nodes": nodes, "rows": len(new), "seconds": seconds}))
    ray.shutdown()
    cluster.shutdown()
""")


def test_two_node_cluster_spreads_evaluations_over_both_nodes(study, tmp_path):
    with open(tmp_path / "inputs.pkl", "wb") as f:
        pickle.dump((study["trials"], study["test"]), f)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", TWO_NODE_SCRIPT, str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"two-node subprocess {time.perf_counter() - start:.1f} s, stage {report['seconds']:.1f} s")
    assert report["rows"] == len(study["trials"]) * len(TASKS)
    assert len(report["nodes"]) == 2 and sorted(report["used"]) == sorted(report["nodes"])
