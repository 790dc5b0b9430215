"""Distilling a teacher into a student (raysym.training.distill): the MSE of Glowacki §3.5 from the
teacher's logits, exact at the start for a copy of the teacher, able to learn a simple teacher, resumable."""

import dataclasses

import numpy as np
import pytest
import torch

from raysym.errors import ConfigError, DataError
from raysym.training import DistillConfig, distill, train
from raysym.training.checkpoint import save_best_model
from raysym.training.distill import teacher_logits
from tests.synthetic import g_vs_w_splits, tiny_config

TINY = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}


@pytest.fixture(scope="module")
def parts():
    return g_vs_w_splits(80)


@pytest.fixture(scope="module")
def teacher(parts, tmp_path_factory):
    """A one-epoch tiny teacher, its best-model file and its logits on train and val."""
    data = {"train": parts["train"], "val": parts["val"]}
    result = train(tiny_config(0), data)
    path = save_best_model(result.checkpoint, tmp_path_factory.mktemp("teacher") / "t.pt")
    return {"result": result, "path": str(path), "data": data, "logits": teacher_logits(str(path), data)}


def small_student(**changes):
    return DistillConfig(**{"model_preset": "small", "model_options": TINY, "epochs": 2, "batch_size": 32,
                            **changes})


def test_a_copy_of_the_teacher_starts_at_zero_mse(teacher):
    config = DistillConfig(model="teacher", model_preset="small", model_options=TINY, epochs=1, batch_size=32)
    result = distill(config, teacher["data"], teacher["logits"],
                     initial_weights=teacher["result"].model.state_dict())
    first = result.history[0]
    assert first["epoch"] == 0 and first["train_mse"] < 1e-12 and first["val_mse"] < 1e-12
    assert result.best_epoch == 0  # nothing a step can do beats the teacher itself


def test_a_constant_teacher_is_learnt_below_1e_3(teacher):
    constant = {split: np.full(len(view), 0.7, dtype=np.float32) for split, view in teacher["data"].items()}
    result = distill(small_student(epochs=15, lr=0.005), teacher["data"], constant)
    assert result.history[0]["val_mse"] > 1e-2
    assert result.history[-1]["val_mse"] < 1e-3 and result.best_val_mse < 1e-3


def test_every_epoch_reports_its_mse_and_a_checkpoint_and_resume_is_bitwise(teacher):
    reports = []
    full = distill(small_student(epochs=3), teacher["data"], teacher["logits"],
                   report=lambda m, c: reports.append((m, c)))
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3] and [h["epoch"] for h in full.history] == [0, 1, 2, 3]
    assert all({"train_mse", "val_mse", "best_epoch", "epoch_seconds", "jets_per_second"} <= set(m) for m, _ in reports)
    resumed = distill(small_student(epochs=3), teacher["data"], teacher["logits"], checkpoint=reports[0][1])
    assert [h["val_mse"] for h in resumed.history] == [h["val_mse"] for h in full.history]
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values()):
        assert torch.equal(a, b)


def test_a_students_mse_is_stored_under_its_own_name_and_an_older_checkpoint_still_resumes(teacher):
    reports = []
    full = distill(small_student(epochs=3), teacher["data"], teacher["logits"],
                   report=lambda m, c: reports.append(c))
    assert "val_mse" in full.checkpoint["best"] and "val_loss" not in full.checkpoint["best"]
    assert full.best_val_mse == full.checkpoint["best"]["val_mse"] == min(h["val_mse"] for h in full.history)
    older = {**reports[0], "best": {("val_loss" if k == "val_mse" else k): v for k, v in reports[0]["best"].items()}}
    resumed = distill(small_student(epochs=3), teacher["data"], teacher["logits"], checkpoint=older)
    assert resumed.best_val_mse == full.best_val_mse and resumed.best_epoch == full.best_epoch


def test_the_student_is_saved_as_a_model_any_stage_can_load(teacher, tmp_path):
    from raysym.training.checkpoint import load_best_model

    config = small_student()
    result = distill(config, teacher["data"], teacher["logits"])
    path = save_best_model(result.checkpoint, tmp_path / "s.pt")
    model, loaded, saved = load_best_model(path)
    assert loaded == config  # a student's own settings, no conversion
    assert saved["val_mse"] == result.best_val_mse and "val_loss" not in saved
    assert loaded.model == "student" and sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in result.model.parameters())


@pytest.mark.parametrize("changes,message", [
    ({"epochs": -1}, "distillation epochs must be a positive integer"),
    ({"model_preset": "huge"}, "unknown model preset 'huge'"),
    ({"lr": 0.0}, "distillation learning rate must be finite and > 0"),
    ({"seed": -2}, "student seed must be a non-negative integer"),
    ({"precision": "half"}, "unknown precision 'half'"),
])
def test_impossible_recipes_fail_when_made(changes, message):
    with pytest.raises(ConfigError, match=message):
        DistillConfig(**changes)


def test_logits_that_do_not_match_the_jets_are_a_data_error(teacher):
    short = dict(teacher["logits"], val=teacher["logits"]["val"][:-1])
    with pytest.raises(DataError, match="teacher's val logits have shape"):
        distill(small_student(), teacher["data"], short)


def test_the_key_of_a_student_changes_with_its_recipe_and_its_teacher():
    base = small_student()
    assert base.settings_key("t1") == dataclasses.replace(base, device="cuda").settings_key("t1")
    assert len({base.settings_key("t1"), base.settings_key("t2"), small_student(epochs=3).settings_key("t1"),
                small_student(seed=1).settings_key("t1"), small_student(precision="bf16").settings_key("t1")}) == 5
    assert small_student(precision="float32").settings_key("t1") == base.settings_key("t1")


def test_a_bf16_student_learns_in_float32_weights_other_numbers_and_resumes_bitwise(teacher):
    reports = []
    full = distill(small_student(precision="bf16"), teacher["data"], teacher["logits"],
                   report=lambda m, c: reports.append(c))
    plain = distill(small_student(), teacher["data"], teacher["logits"])
    assert all(np.isfinite(h["train_mse"]) for h in full.history)
    assert full.history[1]["train_mse"] != plain.history[1]["train_mse"]
    assert {p.dtype for p in full.model.parameters()} == {torch.float32}
    assert full.config.precision == "bf16"
    resumed = distill(small_student(precision="bf16"), teacher["data"], teacher["logits"], checkpoint=reports[0])
    assert [h["val_mse"] for h in resumed.history] == [h["val_mse"] for h in full.history]
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values()):
        assert torch.equal(a, b)
