"""The results API (raysym.results) against a smoke study whose store holds two runs of different evaluation
settings: runs listed and chosen, frames restricted to the chosen run, models that score jets as the stored
evaluation did, per-jet scores that give the stored ROC-AUC back, figures as Figures, and no backend change."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.figure import Figure

import raysym.results as results
from raysym.errors import ConfigError, DataError
from raysym.metrics import roc_auc
from raysym.stages.evaluation import EvaluationSettings
from raysym.store import ResultStore
from tests.conftest import REPO
from tests.results_store import two_run_study

PLAIN_KEY = EvaluationSettings(roc_points=20).key()
SCORED_KEY = EvaluationSettings().key()


@pytest.fixture(scope="module")
def study(ray_local, tmp_path_factory):
    return two_run_study(tmp_path_factory)


@pytest.fixture(scope="module")
def latest(study):
    return results.open(study.store).study()


def test_the_store_lists_both_runs_and_a_study_opens_at_its_latest(study):
    store = results.open(study.store)
    runs = store.studies()
    assert list(runs["run_key"]) == [study.plain.run_key, study.scored.run_key]  # oldest first
    assert list(runs["study"]) == ["quick-smoke"] * 2 and list(runs["scores"]) == [False, True]
    assert list(runs["trials"]) == [2, 2] and runs["finished_at"].is_monotonic_increasing
    assert store.study().run_key == study.scored.run_key
    assert store.study(run_key=study.plain.run_key).run_key == study.plain.run_key


def test_every_frame_holds_only_the_chosen_runs_rows(study, latest):
    everything = ResultStore(study.store).load("evaluations")
    assert set(everything["settings_key"]) == {PLAIN_KEY, SCORED_KEY}  # the store mixes both runs
    plain = results.open(study.store).study(run_key=study.plain.run_key)
    for run, key in ((plain, PLAIN_KEY), (latest, SCORED_KEY)):
        assert set(run.evaluations()["settings_key"]) == {key}
        assert set(run.table("roc")["settings_key"]) == {key}
        assert len(run.evaluations()) == 2 * 3 and len(run.summary()) == 2
    assert plain.table("roc").groupby(["trial_id", "task"]).size().max() <= 20
    assert latest.table("roc").groupby(["trial_id", "task"]).size().max() > 20
    # The same models, so the same metrics: only the thinning of the ROC curve differed.
    assert plain.summary()["roc_auc_g_vs_t"].tolist() == latest.summary()["roc_auc_g_vs_t"].tolist()
    with pytest.raises(DataError, match="--keep-scores"):
        plain.scores()
    assert set(latest.scores()["settings_key"]) == {SCORED_KEY}


def test_the_summary_has_one_row_per_trial_with_every_headline_number(latest):
    summary = latest.summary()
    assert sorted(summary["bias"]) == ["teacher", "teacher-seal-0.1"]
    evaluations = latest.evaluations().set_index(["trial_id", "task"])
    for _, row in summary.iterrows():
        for task in ("g_vs_w", "g_vs_z", "g_vs_t"):
            assert row[f"roc_auc_{task}"] == evaluations.loc[(row["trial_id"], task), "roc_auc"]
    hessian = latest.analysis("hessian").query("k == 1").set_index("trial_id")
    assert summary.set_index("trial_id")["lambda1"].to_dict() == hessian["eigenvalue"].to_dict()
    students = latest.students().groupby("trial_id")["final_val_mse"].mean()
    assert summary.set_index("trial_id")["distillation_mse"].to_dict() == students.to_dict()
    for column in ("trace", "goldstone_rise_nu1", "smearing_auc_drop", "symmetry_boost", "symmetry_rotation"):
        assert summary[column].notna().all(), column
    assert latest.analyses() == ["hessian", "spectrum", "goldstone", "smearing", "symmetry"]


def test_a_store_of_two_studies_needs_a_name_and_unknown_choices_name_the_known_ones(study, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(study.store, copy)
    other = ResultStore(copy).load("studies").iloc[[0]].assign(study="other")
    ResultStore(copy).write("studies", other, key="other-run")
    store = results.open(copy)
    with pytest.raises(ConfigError, match=r"several studies \(other, quick-smoke\)"):
        store.study()
    with pytest.raises(ConfigError, match="no study 'nope'; it has other, quick-smoke"):
        store.study("nope")
    with pytest.raises(ConfigError, match=f"no recorded run 'nope'.*{study.scored.run_key}"):
        store.study(run_key="nope")
    assert store.study("quick-smoke").run_key == study.scored.run_key
    with pytest.raises(DataError, match="does not exist"):
        results.open(tmp_path / "nowhere")


def test_a_loaded_model_scores_the_test_jets_as_the_stored_evaluation_and_scores(latest):
    jets = latest.test_jets()
    evaluations = latest.evaluations().set_index(["trial_id", "task"])
    stored = latest.scores()
    for trial in latest.trials()["trial_id"]:
        model = latest.model(trial)
        assert model.best and model.epoch == latest.trials().set_index("trial_id").loc[trial, "best_epoch"]
        for task in latest.tasks:
            mine = model.task_scores(jets, task)
            assert roc_auc(mine["logit"], mine["label"]) == pytest.approx(evaluations.loc[(trial, task), "roc_auc"],
                                                                         abs=1e-12)
            kept = stored[(stored["trial_id"] == trial) & (stored["task"] == task)]
            assert kept["jet"].tolist() == mine["jet"].tolist()
            np.testing.assert_allclose(kept["logit"], mine["logit"], rtol=1e-5, atol=1e-6)
        # Arrays (numpy or tensors) score as the JetSet does.
        logits = model.logits(jets)
        np.testing.assert_allclose(model.logits(jets.p4, jets.mask), logits, rtol=1e-6)
        assert np.all((model.probabilities(jets) > 0) & (model.probabilities(jets) < 1))


def test_bad_jets_and_unknown_models_are_one_error_each(latest):
    jets = latest.test_jets()
    model = latest.model(latest.trials()["trial_id"].iloc[0])
    with pytest.raises(ConfigError, match="need their mask"):
        model.logits(jets.p4)
    with pytest.raises(DataError, match=r"p4 has shape \(48, 32, 3\)"):
        model.logits(jets.p4[..., :3], jets.mask)
    with pytest.raises(ConfigError, match="has no trial or student 'nope'"):
        latest.model("nope")
    with pytest.raises(ConfigError, match="no weights kept after epoch 1; kept: 2"):
        latest.model(latest.trials()["trial_id"].iloc[0], epoch=1)
    student = latest.students()["student_id"].iloc[0]
    assert latest.model(student).logits(jets).shape == (len(jets),)


def test_the_stored_scores_give_back_the_stored_roc_auc_and_point_at_their_jets(latest):
    scores, jets = latest.scores(), latest.test_jets()
    evaluations = latest.evaluations().set_index(["trial_id", "task"])
    assert len(scores) == evaluations["n_jets"].sum()
    for (trial, task), rows in scores.groupby(["trial_id", "task"]):
        assert roc_auc(rows["logit"], rows["label"]) == pytest.approx(evaluations.loc[(trial, task), "roc_auc"],
                                                                     abs=1e-12)
        spec = jets.task_spec(task)
        signal = [jets.classes.index(c) for c in spec.signal]
        assert np.array_equal(np.isin(jets.label[rows["jet"]], signal), rows["label"].to_numpy() == 1)
    assert latest.scores(task="g_vs_w")["task"].unique().tolist() == ["g_vs_w"]


def test_every_figure_of_the_run_is_a_figure_and_others_are_errors_naming_them(latest):
    names = latest.figures()
    assert {"roc", "training", "curvature", "distillation"} <= set(names)
    for name in names:
        assert isinstance(latest.figure(name), Figure), name
    with pytest.raises(ConfigError, match="unknown figure 'nope'"):
        latest.figure("nope")
    with pytest.raises(ConfigError, match="'lambda_scan' cannot be drawn.*this run's figures: roc"):
        latest.figure("lambda_scan")


def test_a_copied_store_without_its_jets_says_where_they_were(study, tmp_path):
    shutil.copytree(study.store, tmp_path / "store")
    run = results.open(tmp_path / "store").study()
    with pytest.raises(DataError, match="were generated into .*lacks class"):
        run.test_jets()


BACKEND_SCRIPT = textwrap.dedent("""
    import json, sys
    import matplotlib
    import matplotlib.pyplot as plt
    before = dict(matplotlib.rcParams)
    import raysym.results, raysym.report.command, raysym.report.figures  # noqa: F401
    run = raysym.results.open(sys.argv[1]).study()
    drawn = [type(run.figure(name)).__name__ for name in run.figures()]
    changed = sorted(k for k, v in dict(matplotlib.rcParams).items() if k != "backend" and before[k] != v)
    print(json.dumps({"backend": matplotlib.get_backend(), "pyplot_figures": plt.get_fignums(), "changed": changed,
                      "drawn": drawn}))
""")


def test_importing_and_drawing_leave_the_backend_pyplot_and_settings_alone(study):
    # A backend no figure code would pick: before, importing the figures switched every process to Agg.
    env = {**os.environ, "MPLBACKEND": "svg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT, study.store], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["backend"] == "svg" and found["pyplot_figures"] == [] and found["changed"] == []
    assert found["drawn"] and set(found["drawn"]) == {"Figure"}


def test_the_study_scripts_flag_switches_the_scores_on_and_keeps_the_evaluation_key():
    import importlib.util

    spec = importlib.util.spec_from_file_location("full", REPO / "studies" / "full.py")
    full = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(full)
    kept = full.study_from_args(full.parse_args(["--smoke-test", "--keep-scores"])).evaluation
    plain = full.study_from_args(full.parse_args(["--smoke-test"])).evaluation
    assert kept.keep_scores and not plain.keep_scores and kept.key() == plain.key()
