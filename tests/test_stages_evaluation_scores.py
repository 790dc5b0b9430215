"""Stage 2's opt-in per-jet scores (evaluation ``keep_scores``): what the rows hold, that they reproduce the
stored metrics, and that switching them on for evaluated models writes only the scores."""

import numpy as np
import pytest

from raysym.errors import ConfigError
from raysym.metrics import roc_auc
from raysym.stages.evaluation import EvaluationSettings, run_evaluation_stage
from raysym.store import TRIAL_KEYS, ResultStore
from tests.synthetic import trained_study

TASKS = ("g_vs_w", "g_vs_z", "g_vs_t")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two one-epoch models trained on g_vs_w, their best-model files, a trials table and the test jets."""
    return trained_study(tmp_path_factory.mktemp("scores"), n_models=2)


def test_keeping_scores_does_not_move_the_evaluation_key():
    assert EvaluationSettings(keep_scores=True).key() == EvaluationSettings().key()
    with pytest.raises(ConfigError, match="keep_scores must be true or false"):
        EvaluationSettings(keep_scores="yes")


def test_without_the_switch_no_scores_are_written(study, tmp_path):
    store = ResultStore(tmp_path / "store")
    run_evaluation_stage(store, study["trials"], study["test"], progress=False, use_ray=False)
    assert "evaluations" in store.tables() and "scores" not in store.tables()


def test_stored_scores_give_back_every_stored_roc_auc_and_name_each_test_jet(study, tmp_path):
    store = ResultStore(tmp_path / "store")
    run_evaluation_stage(store, study["trials"], study["test"], EvaluationSettings(keep_scores=True), progress=False,
                         use_ray=False)
    scores, evaluations = store.load("scores"), store.load("evaluations")
    assert set(TRIAL_KEYS) <= set(scores.columns) and (scores["settings_key"] == EvaluationSettings().key()).all()
    test = study["test"]
    for (trial, task), rows in scores.groupby(["trial_id", "task"]):
        stored = evaluations[(evaluations["trial_id"] == trial) & (evaluations["task"] == task)].iloc[0]
        assert len(rows) == stored["n_jets"] and rows["label"].sum() == stored["n_signal"]
        assert roc_auc(rows["logit"], rows["label"]) == pytest.approx(stored["roc_auc"], abs=1e-12)
        # ``jet`` is the position in the test split: its labels there are the task's classes.
        view = test.for_task(task)
        assert np.array_equal(test.label[rows["jet"]], view.label)
    assert sorted(scores.groupby("trial_id")["task"].unique().map(sorted).iloc[0]) == sorted(TASKS)


def test_switching_scores_on_later_writes_only_the_scores_of_evaluated_models(study, tmp_path):
    store = ResultStore(tmp_path / "store")
    run_evaluation_stage(store, study["trials"].iloc[:1], study["test"], progress=False, use_ray=False)
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")}
    new = run_evaluation_stage(store, study["trials"], study["test"], EvaluationSettings(keep_scores=True),
                               progress=False, use_ray=False)
    assert set(new["trial_id"]) == {"t1"}  # t0 was evaluated before: only its scores are new
    assert all(p.stat().st_mtime_ns == t for p, t in written.items())
    assert set(store.load("scores")["trial_id"]) == {"t0", "t1"}
    again = run_evaluation_stage(store, study["trials"], study["test"], EvaluationSettings(keep_scores=True),
                                 progress=False, use_ray=False)
    assert again.empty
