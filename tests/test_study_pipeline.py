"""The study engine end to end in a local Ray: smoke study, a failing trial, a rerun, a search.

Every test runs the real path (generator or hls4ml reader → Tune → store → evaluation tasks), shrunk by
the smoke-test settings to seconds.
"""

import os
import shutil

import pyarrow.parquet as pq
import pytest

from raysym.report import summaries
from raysym.report.selection import select_run
from raysym.store import ResultStore
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke


@pytest.fixture(scope="module")
def jets_dir(study_jets_dir):
    return study_jets_dir


def quiet(config, tmp_path, **kwargs):
    return run_study(config, tmp_path, verbose=0, progress=False, **kwargs)


def test_smoke_study_runs_every_stage_and_leaves_the_expected_rows(ray_local, tmp_path):
    config = smoke(preset("quick"))
    outcome = quiet(config, tmp_path)
    store = ResultStore(outcome.store_path)
    trials, epochs = store.load("trials"), store.load("epochs")
    evaluations, roc = store.load("evaluations"), store.load("roc")
    assert outcome.trained == 2 and outcome.evaluated == 2 and not outcome.errors
    assert sorted(t.rsplit("-", 1)[0] for t in trials["trial_id"]) == ["teacher-s0", "teacher-seal-0.1-s0"]
    assert sorted(outcome.trial_ids) == sorted(trials["trial_id"])
    assert len(epochs) == 2 * config.recipe.epochs and not epochs.duplicated(["trial_id", "epoch"]).any()
    assert len(evaluations) == 2 * 3 and set(evaluations["task"]) == {"g_vs_w", "g_vs_z", "g_vs_t"}
    assert roc.groupby(["trial_id", "task"]).size().min() >= 2
    assert all((tmp_path / "models" / f"{t}.pt").is_file() for t in trials["trial_id"])
    # Every table joins on the trial keys.
    joined = evaluations.merge(trials, on=["study", "trial_id", "model", "penalty", "lam", "seed"])
    assert len(joined) == len(evaluations)
    run = select_run(outcome.store_path, config.name, outcome.run_key)
    assert set(summaries.performance(run)["bias"]) == {"teacher", "teacher-seal-0.1"}
    # Stage 4: one student per teacher, its epochs 0..n once each, joinable to the trials.
    students, distillation = store.load("students"), store.load("distillation")
    assert outcome.distilled == 2 and sorted(students["student_id"]) == sorted(outcome.student_ids)
    epochs_per_student = distillation.groupby("student_id")["epoch"].apply(list).tolist()
    assert epochs_per_student == [list(range(config.distillation.recipe.epochs + 1))] * 2
    assert len(students.merge(trials, on=["study", "trial_id", "model", "penalty", "lam", "seed"])) == 2
    assert students["roc_auc_g_vs_t"].notna().all() and (students["final_val_mse"] >= 0).all()
    assert set(run.table("students")["bias"]) == {"teacher", "teacher-seal-0.1"}


def test_a_trial_failing_mid_run_is_retried_and_nothing_is_duplicated(jets_dir, tmp_path):
    config = smoke(preset("quick")).with_overrides(
        name="faulty", recipe={"epochs": 3}, training={"fail_once_at_epoch": 2, "max_failures": 2},
        data={"path": jets_dir}, distillation={"enabled": False})
    outcome = quiet(config, tmp_path)
    store = ResultStore(outcome.store_path)
    epochs = store.load("epochs")
    assert len(list((tmp_path / "fault-markers").iterdir())) == 2  # both trials really failed once
    assert outcome.trained == 2 and not outcome.errors
    assert sorted(epochs.groupby("trial_id")["epoch"].apply(list).tolist()) == [[1, 2, 3], [1, 2, 3]]
    assert len(store.load("evaluations")) == 2 * 3


def test_rerunning_a_finished_study_trains_and_evaluates_nothing(jets_dir, tmp_path):
    # Distillation's rerun is tested in tests/test_stages_distillation.py.
    config = smoke(preset("quick")).with_overrides(name="twice", data={"path": jets_dir},
                                                   distillation={"enabled": False})
    first = quiet(config, tmp_path)
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")}
    second = quiet(config, tmp_path)
    assert (first.trained, second.trained, second.evaluated) == (2, 0, 0)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")} == files


def test_a_rerun_with_other_settings_trains_new_trials_beside_the_old_and_never_shows_their_numbers(jets_dir,
                                                                                                      tmp_path):
    config = smoke(preset("quick")).with_overrides(name="changed", data={"path": jets_dir},
                                                   distillation={"enabled": False})
    first = quiet(config, tmp_path)
    longer = config.with_overrides(recipe={"epochs": 3})
    second = quiet(longer, tmp_path)
    store = ResultStore(second.store_path)
    trials, evaluations = store.load("trials"), store.load("evaluations")
    assert (first.trained, second.trained, second.evaluated) == (2, 2, 2)
    assert not set(first.trial_ids) & set(second.trial_ids) and len(trials) == 4
    assert sorted(trials.set_index("trial_id").loc[second.trial_ids, "epochs"]) == [3, 3]
    assert set(evaluations["trial_id"]) == set(first.trial_ids) | set(second.trial_ids)
    for table in ("hessian", "smearing", "goldstone"):
        assert set(store.load(table)["trial_id"]) == set(first.trial_ids) | set(second.trial_ids), table
    # The summary of the new run is made of the new trials only.
    shown = summaries.performance(select_run(second.store_path, config.name, second.run_key))
    current = evaluations[evaluations["trial_id"].isin(second.trial_ids) & (evaluations["task"] == "g_vs_w")]
    auc = shown[(shown["task"] == "g_vs_w") & (shown["metric"] == "roc_auc")]
    assert set(shown["n"]) == {1} and sorted(auc["mean"]) == sorted(current["roc_auc"])
    # Back to the first settings: everything is found, nothing is redone.
    again = quiet(config, tmp_path)
    assert (again.trained, again.evaluated, again.trial_ids) == (0, 0, first.trial_ids)
    assert all(n == 0 for n in again.analysed.values())


def test_other_evaluation_settings_evaluate_again_without_training(jets_dir, tmp_path):
    config = smoke(preset("quick")).with_overrides(name="roc", data={"path": jets_dir},
                                                   distillation={"enabled": False})
    quiet(config, tmp_path)
    thinner = quiet(config.with_overrides(evaluation={"roc_points": 5}), tmp_path)
    assert (thinner.trained, thinner.evaluated) == (0, 2)
    roc = ResultStore(thinner.store_path).load("roc")
    assert roc.groupby("settings_key")["trial_id"].nunique().tolist() == [2, 2]


def test_a_study_copied_elsewhere_reads_and_writes_only_its_copy(jets_dir, tmp_path):
    """The store keeps a study's files relative to its folder: with the original deleted first, the copy's
    rerun finds every model, and a new analysis writes its ν1 into the copy."""
    config = smoke(preset("quick")).with_overrides(name="moved", data={"path": jets_dir},
                                                   distillation={"enabled": False})
    original, copy = tmp_path / "original", tmp_path / "copy"
    quiet(config, original)
    shutil.copytree(original, copy, symlinks=True)
    shutil.rmtree(original)

    again = quiet(config, copy)
    assert (again.trained, again.evaluated, again.errors) == (0, 0, [])
    store = ResultStore(copy / "store")
    stored = pq.read_table(next((copy / "store" / "trials").glob("*.parquet"))).column("model_path").to_pylist()
    assert stored[0].startswith("models/")  # as written: relative to the study's folder
    assert all(path.startswith(str(copy)) for path in store.load("trials")["model_path"])
    deeper = quiet(config.with_overrides(analyses={"lanczos_steps": 5}), copy)
    assert deeper.analysed["hessian"] == 2 and not original.exists()
    nu1 = store.load("hessian").query("k == 1")["nu1_path"]
    assert len(nu1) == 4 and all(path.startswith(str(copy / "models")) and os.path.isfile(path) for path in nu1)


def test_resuming_restores_the_tuner_and_stores_its_finished_trials_without_retraining(jets_dir, tmp_path):
    config = smoke(preset("quick")).with_overrides(name="restored", data={"path": jets_dir},
                                                   distillation={"enabled": False})
    quiet(config, tmp_path)
    # Lose the trials table (as if the driver died between training and storing): the rerun must
    # restore the Tune experiment, not train again.
    checkpoints = sorted((tmp_path / "tune").rglob("checkpoint_*"))
    assert len(checkpoints) == 2  # the last of each finished trial; the older ones were pruned
    for path in (tmp_path / "store" / "trials").iterdir():
        path.unlink()
    again = quiet(config, tmp_path)
    assert again.trained == 2 and sorted((tmp_path / "tune").rglob("checkpoint_*")) == checkpoints
    assert len(ResultStore(again.store_path).load("trials")) == 2


def test_search_study_samples_lr_and_lambda_with_asha_into_the_same_store(jets_dir, tmp_path):
    config = smoke(preset("asha")).with_overrides(data={"path": jets_dir}, distillation={"enabled": False})
    outcome = quiet(config, tmp_path)
    trials = ResultStore(outcome.store_path).load("trials")
    search = config.training.search
    assert len(trials) == search.num_samples and trials["trial_id"].str.startswith("search-").all()
    assert trials["lr"].nunique() == len(trials) and (trials["penalty"] == "seal").all()
    assert trials["lam"].between(*search.lam_range).all()
    assert len(ResultStore(outcome.store_path).load("evaluations")) == 3 * len(trials)


def test_full_study_script_smoke_test_prints_the_store_and_the_table(ray_local, tmp_path, capsys):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("full", REPO / "studies" / "full.py")
    full = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(full)
    assert full.main(["--smoke-test", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 trial(s) trained, 2 evaluated, 2 student(s) distilled" in out
    assert str((tmp_path / "store").resolve()) in out and "distillation MSE" in out
    assert "Parity in distribution" in out and str((tmp_path / "report" / "report.html").resolve()) in out
    # Every figure its tables allow (a smoke study scans no λ and keeps no epochs beyond the best), and the
    # report's three tables.
    figures = sorted(p.name for p in (tmp_path / "report" / "figures").glob("*.png"))
    assert figures == sorted(f"{n}.png" for n in ("roc", "training", "goldstone", "smearing", "distillation",
                                                  "curvature", "symmetry", "flatness_auc"))
    report = (tmp_path / "report" / "report.md").read_text()
    assert all(f"Table {n}" in report for n in (1, 2, 3)) and (tmp_path / "report" / "report.html").is_file()
    assert "teacher-seal-0.1" in out and "g_vs_t" in out and "ROC-AUC" in out
    # The console: a line per trial event, nothing of Tune's own output (its experiment box, its table).
    events = [line for line in out.splitlines() if line.startswith(("training: ", "distillation: "))]
    assert len(events) == 8 and sum(" finished " in line for line in events) == 4, events
    assert "Configuration for experiment" not in out and "Trial status" not in out and "╭" not in out
    assert full.main(["--smoke-test", "--out", str(tmp_path), "--bias", "teacher:seal:-1"]) == 2
    assert "λ must be finite and >= 0" in capsys.readouterr().err
