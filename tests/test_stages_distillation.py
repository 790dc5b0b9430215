"""Stage 4 (raysym.stages.distillation): teachers chosen, students as a Tune run that survives a failure,
both tables filled once, a rerun that changes nothing, and a changed recipe that adds students beside."""

import pandas as pd
import pytest

from raysym.artifacts import exists
from raysym.errors import ConfigError, DataError
from raysym.stages.distillation import (
    DistillationSettings,
    logits_path,
    plan_students,
    run_distillation_stage,
    select_teachers,
)
from raysym.stages.evaluation import EvaluationSettings
from raysym.stages.training import TrainingSettings
from raysym.store import ResultStore
from raysym.training.distill import DistillConfig
from tests.synthetic import trained_study

TINY = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}
RECIPE = DistillConfig(model_preset="small", epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two tiny teachers of two biases, as rows of a trials table."""
    made = trained_study(tmp_path_factory.mktemp("teachers"), n_models=2)
    made["trials"] = made["trials"].assign(bias=["teacher", "teacher-seal-0.1"], best_val_loss=[0.5, 0.6])
    return made


def run(study, out, settings, training=TrainingSettings()):
    return run_distillation_stage(ResultStore(out / "store").create(), "unit", study["trials"], settings,
                                  {"student": TINY}, training, {"train": study["train"], "val": study["val"]},
                                  "jets", study["test"], EvaluationSettings(), out, verbose=0, progress=False)


def test_students_survive_a_failure_fill_both_tables_once_and_a_rerun_changes_nothing(ray_local, study, tmp_path):
    settings = DistillationSettings(recipe=RECIPE)
    outcome = run(study, tmp_path, settings, TrainingSettings(fail_once_at_epoch=1, max_failures=1))
    store = ResultStore(tmp_path / "store")
    students, epochs = store.load("students"), store.load("distillation")
    assert outcome.trained == 2 and not outcome.errors
    assert len(list((tmp_path / "fault-markers").iterdir())) == 2  # both students really failed once
    assert epochs.groupby("student_id")["epoch"].apply(list).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert sorted(students["trial_id"]) == ["t0", "t1"] and (students["student_seed"] == 0).all()
    joined = students.merge(study["trials"], on=["study", "trial_id", "model", "penalty", "lam", "seed"])
    assert len(joined) == 2 and set(joined["bias_x"]) == {"teacher", "teacher-seal-0.1"}
    assert {f"roc_auc_{t}" for t in ("g_vs_w", "g_vs_z", "g_vs_t")} <= set(students.columns)
    assert all(exists(logits_path(t, "jets")) for t in study["trials"].to_dict("records"))
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")}
    again = run(study, tmp_path, settings)
    assert again.trained == 0 and sorted(again.student_ids) == sorted(outcome.student_ids)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "store").rglob("*.parquet")} == files
    # Only the recipe changes: new students under a new key, the old rows kept.
    longer = run(study, tmp_path, DistillationSettings(recipe=DistillConfig(model_preset="small", epochs=3,
                                                                            batch_size=32)))
    students = store.load("students")
    assert longer.trained == 2 and not set(longer.student_ids) & set(outcome.student_ids)
    assert sorted(students["epochs"]) == [2, 2, 3, 3] and students["settings_key"].nunique() == 4


def test_best_picks_the_lowest_validation_loss_teacher_of_each_bias_and_seeds_multiply_students(study):
    trials = pd.concat([study["trials"], study["trials"].iloc[:1].assign(trial_id="t9", best_val_loss=0.4)])
    best = select_teachers(trials, "best")
    assert sorted(best["trial_id"]) == ["t1", "t9"]
    assert len(select_teachers(trials, "all")) == 3
    students = plan_students(best, DistillationSettings(student_seeds=(0, 1), recipe=RECIPE), {"student": TINY})
    assert len(students) == 4 and len({s.student_id for s in students}) == 4
    assert {s.config.model_options["d_model"] for s in students} == {16}


def test_no_finished_teacher_is_a_clear_error():
    with pytest.raises(DataError, match="no finished teacher to distil"):
        select_teachers(pd.DataFrame(columns=["trial_id", "bias", "best_val_loss"]), "all")


@pytest.mark.parametrize("settings,message", [
    ({"teachers": "worst"}, "teachers must be 'all' or 'best'"),
    ({"student_seeds": (1, 1)}, "student seeds must be distinct"),
    ({"recipe": "fast"}, "recipe must be a DistillConfig"),
])
def test_impossible_distillation_settings_fail_when_made(settings, message):
    with pytest.raises(ConfigError, match=message):
        DistillationSettings(**settings)
