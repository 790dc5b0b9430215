"""A study's size before it starts (raysym.study.footprint): estimates from measured item sizes, checked
against real files, and one clear refusal for a study that cannot fit, before anything is written."""

from __future__ import annotations

import dataclasses
import io
import os

import pytest
import torch

from raysym.errors import ConfigError
from raysym.study.footprint import (
    KEEP_CHECKPOINTS,
    MAX_GENERATION_TASKS,
    check_footprint,
    checkpoint_bytes,
    estimate,
)
from raysym.study.presets import preset, smoke
from raysym.training.checkpoint import training_checkpoint


def saved_bytes(value) -> int:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return len(buffer.getvalue())


def real_checkpoint_bytes(config, epochs: int) -> int:
    """A real training checkpoint of ``config``'s model after an optimiser step (Adam's moments exist)."""
    model = config.build_model()
    optimiser = torch.optim.Adam(model.parameters())
    for parameter in model.parameters():
        parameter.grad = torch.ones_like(parameter)
    optimiser.step()
    best = {"epoch": 1, "val_loss": 0.5, "model": {k: v.clone() for k, v in model.state_dict().items()}}
    history = [{"epoch": e, "val_loss": 1 / e, "train_loss": 2 / e} for e in range(1, epochs + 1)]
    generator = torch.Generator()
    return saved_bytes(training_checkpoint(config, epochs, model, optimiser, generator, generator, best, history))


def test_a_paper_teachers_checkpoint_is_as_large_as_the_estimate_says():
    config = dataclasses.replace(next(iter(preset("paper").trials("").values())), device="cpu")
    assert real_checkpoint_bytes(config, 100) == pytest.approx(checkpoint_bytes(1_255_425, 100), rel=0.01)


def test_a_small_models_checkpoint_is_not_underestimated():
    config = next(iter(smoke(preset("quick")).trials("").values()))
    parameters = sum(p.numel() for p in config.build_model().parameters())
    assert real_checkpoint_bytes(config, 2) <= checkpoint_bytes(parameters, 2) <= 3 * real_checkpoint_bytes(config, 2)


def test_the_paper_preset_keeps_a_bounded_number_of_checkpoints_per_trial():
    found = estimate(preset("paper"), n_jets=720_000)
    per_checkpoint = checkpoint_bytes(1_255_425, 100)
    trials = len(preset("paper").trials(""))
    assert found.disk["training checkpoints"] == pytest.approx(trials * (KEEP_CHECKPOINTS + 1) * per_checkpoint,
                                                               rel=0.01)
    assert found.disk["generated jets"] == pytest.approx(720_000 * 7_500)


def test_a_billion_epochs_are_refused_before_anything_starts(tmp_path):
    config = smoke(preset("quick")).with_overrides(recipe={"epochs": 1_000_000_000})
    with pytest.raises(ConfigError, match=r"1,000,000,000 epochs need about .* GB of memory for each trial's "
                                          r"history|the study needs about .* GB at .*epoch rows"):
        check_footprint(config, str(tmp_path), local_disk=True, local_ray=True)


def test_too_many_generation_tasks_are_refused_naming_the_chunking(tmp_path):
    config = smoke(preset("quick")).with_overrides(data={"generator": {"jets_per_class": 100_000_000,
                                                                       "chunk_size": 500}})
    assert 4 * 100_000_000 // 500 > MAX_GENERATION_TASKS
    with pytest.raises(ConfigError, match=r"100,000,000 jets per class in chunks of 500 is 800,000 tasks, more "
                                          r"than the 100,000 a study queues; use fewer jets or a larger chunk"):
        check_footprint(config, str(tmp_path), local_disk=True, local_ray=True)


def test_jets_beyond_this_machines_memory_are_refused(tmp_path):
    config = smoke(preset("quick")).with_overrides(data={"generator": {"jets_per_class": 100_000_000,
                                                                       "chunk_size": 100_000}})
    with pytest.raises(ConfigError, match=r"the study's jets need about .* GB of memory on this machine"):
        check_footprint(config, str(tmp_path), local_disk=False, local_ray=False)


def test_a_study_larger_than_its_disk_is_refused_and_nothing_is_written(small_disk, capsys):
    from studies.full import main

    out = small_disk(2_000_000) / "study"
    assert main(["--smoke-test", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "error: the study needs about" in error and f"at {out} (" in error and "free some space" in error
    assert os.listdir(out) == []
