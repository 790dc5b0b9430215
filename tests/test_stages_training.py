"""Stage 1 (raysym.stages.training) without Tune: its settings, its parameter space, trial ids, and how a
finished trial lands in the store. The Tune path itself runs in tests/test_study_pipeline.py."""

import dataclasses

import pytest

from raysym.errors import ConfigError
from raysym.stages.training import SEARCH, SearchSpace, TrainingSettings, param_space, store_trial
from raysym.stages.tune_trials import storage_location, trial_id_of
from raysym.store import ResultStore
from raysym.training import train
from raysym.training.checkpoint import load_best_model
from tests.synthetic import g_vs_w_splits, tiny_config


@pytest.mark.parametrize("settings,message", [
    ({"cpus_per_trial": 0}, "cpus per trial must be > 0"),
    ({"gpus_per_trial": float("nan")}, "GPUs per trial must be >= 0"),
    ({"gpus_per_trial": 0.3}, r"GPUs per trial below 1 must be 1/n.* got 0.3; use e.g. 0.3333 \(3 per GPU\)"),
    ({"gpus_per_trial": 0.6}, "GPUs per trial below 1 must be 1/n"),
    ({"gpus_per_trial": 1.5}, "must be a whole number above 1 .*got 1.5"),
    ({"max_failures": 1.5}, "max_failures must be an integer"),
    ({"fail_once_at_epoch": 0}, "fail_once_at_epoch must be a positive integer"),
    ({"search": {"num_samples": 4}}, "search must be a SearchSpace, got dict"),
    ({"trial_resources": {"GPU": 1}}, "must be a custom resource's name"),
    ({"trial_resources": {"accelerator": 0}}, "accelerator must ask for an amount > 0"),
    ({"trial_resources": "accelerator"}, "must be name -> amount pairs"),
])
def test_impossible_training_settings_fail_when_made(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainingSettings(**settings)


@pytest.mark.parametrize("gpus,cpus,per_node", [(0.0, 1, 4), (1.0, 1, 1), (2.0, 1, 0), (0.5, 1, 2),
                                                (0.25, 1, 4), (1 / 3, 1, 3), (0.3333, 1, 3), (0.125, 1, 4),
                                                (0.25, 2, 2), (0.25, 4, 1)])
def test_gpu_shares_of_1_over_n_pack_n_trials_per_gpu_as_far_as_the_cpus_allow(gpus, cpus, per_node):
    settings = TrainingSettings(cpus_per_trial=cpus, gpus_per_trial=gpus)
    assert settings.trials_per_node(cpus=4, gpus=1) == per_node


def test_custom_trial_resources_are_kept_as_sorted_pairs():
    settings = TrainingSettings(trial_resources={"accelerator": 1, "a100": 0.5})
    assert settings.trial_resources == (("a100", 0.5), ("accelerator", 1.0))
    assert TrainingSettings(trial_resources=settings.trial_resources) == settings


def test_a_search_cannot_wait_longer_than_the_recipe_trains():
    recipe = dataclasses.replace(tiny_config(0), epochs=2)
    TrainingSettings(search=SearchSpace(grace_period=2)).check(recipe)
    with pytest.raises(ConfigError, match="grace period 3 exceeds the 2 epochs"):
        TrainingSettings(search=SearchSpace(grace_period=3)).check(recipe)


def test_grid_space_names_every_trial_and_gpus_put_trials_on_cuda():
    trials = {"a-s0": tiny_config(0), "a-s1": tiny_config(1)}
    space = param_space(trials, TrainingSettings(cpus_per_trial=2), "/out")
    assert [point["trial_id"] for point in space["trial"]["grid_search"]] == ["a-s0", "a-s1"]
    assert space["threads"] == 2
    assert "fail_once_at_epoch" not in space
    assert TrainingSettings(gpus_per_trial=0.25).device == "cuda" and TrainingSettings().device == "cpu"


def test_a_search_samples_lr_and_lambda_and_its_trials_are_named_by_tune():
    space = param_space({SEARCH: tiny_config(0)}, TrainingSettings(search=SearchSpace()), "/out")
    assert {"lr", "lam"} <= set(space) and "trial_id" not in space
    assert trial_id_of({"lr": 0.01}, "1a2b_00003") == "search-1a2b_00003"
    assert trial_id_of({"trial_id": "teacher-s0"}, "1a2b_00000") == "teacher-s0"


def test_storage_is_under_the_output_folder_unless_a_path_or_uri_is_given(tmp_path):
    assert storage_location(TrainingSettings(), tmp_path) == str((tmp_path / "tune").resolve())
    assert storage_location(TrainingSettings(storage_path="s3://bucket/runs"), tmp_path) == "s3://bucket/runs"


def test_a_finished_trial_writes_its_model_file_epochs_and_trial_row(tmp_path):
    parts = g_vs_w_splits(60)
    config = tiny_config(3)
    result = train(config, {"train": parts["train"], "val": parts["val"]})
    store = ResultStore(tmp_path / "store")
    row = store_trial(store, "unit", "teacher-s3", result.checkpoint, tmp_path / "models", data_key="jets",
                      experiment="unit-1")
    trials, epochs = store.load("trials"), store.load("epochs")
    assert list(trials.trial_id) == ["teacher-s3"] and list(epochs.epoch) == [1]
    assert (row["bias"], row["seed"], row["epochs"], row["stopped_early"]) == ("teacher", 3, 1, False)
    assert (row["settings_key"], row["data_key"], row["experiment"]) == (config.settings_key("jets"), "jets", "unit-1")
    model, loaded, _ = load_best_model(row["model_path"])
    assert loaded == config and row["n_parameters"] == sum(p.numel() for p in model.parameters())


def test_kept_epochs_weights_are_loadable_models_and_only_kept_files_get_rows(tmp_path):
    import dataclasses as dc

    import torch

    from raysym.stages.checkpoints import CheckpointChoice, epoch_model_path
    from raysym.stages.training import keeping_epochs, store_kept_epochs

    parts = g_vs_w_splits(60)
    config = dc.replace(tiny_config(4), epochs=3)
    reported, models = [], str(tmp_path / "models")
    keep = keeping_epochs(lambda metrics, checkpoint: reported.append(checkpoint["epoch"]), CheckpointChoice(2),
                          models, "t4")
    result = train(config, {"train": parts["train"], "val": parts["val"]}, report=keep)
    assert reported == [1, 2, 3]  # every epoch is still reported; only epoch 2 is kept
    assert sorted(p.name for p in (tmp_path / "models" / "epochs").iterdir()) == ["t4-e2.pt"]
    model, loaded, saved = load_best_model(epoch_model_path(models, "t4", 2))
    assert loaded == config and saved["best_epoch"] == 2
    assert saved["val_loss"] == result.history[1]["val_loss"] and set(saved) == {"format", "config", "settings",
                                                                                 "best_epoch", "val_loss", "model"}
    assert saved["settings"] == "training"  # which class reads its settings back
    store = ResultStore(tmp_path / "store")
    keys = {"study": "unit", "trial_id": "t4", "model": "teacher", "penalty": "none", "lam": 0.0, "seed": 4}
    # every:1 wants epochs 1-3 but only epoch 2 was kept: one row, and the others are left for a rerun.
    assert store_kept_epochs(store, keys, result.checkpoint, models, CheckpointChoice(1)) == 1
    rows = store.load("checkpoints")
    assert list(rows["epoch"]) == [2] and rows["val_loss"].iloc[0] == result.history[1]["val_loss"]
    assert torch.equal(next(iter(model.state_dict().values())), next(iter(saved["model"].values())))
