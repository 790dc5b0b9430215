"""A run's settings (raysym.training.config): the checks, the bias, and the key that identifies a result."""

import dataclasses

import pytest

from raysym.errors import ConfigError
from raysym.training.config import Bias, TrainConfig


@pytest.mark.parametrize("changes,message", [
    ({"lam": float("inf"), "penalty": "seal"}, "λ must be finite and >= 0"),
    ({"lam": -0.1, "penalty": "seal"}, "λ must be finite and >= 0"),
    ({"lr": float("nan")}, "learning rate must be finite and > 0"),
    ({"weight_decay": float("inf")}, "weight decay must be finite and >= 0"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"task": ""}, "a task is named by a non-empty string"),
    ({"precision": "fp16"}, "unknown precision 'fp16'; choose one of float32, bf16"),
])
def test_impossible_run_settings_fail_when_made(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes)


def test_a_trial_is_the_recipe_with_bias_seed_and_sizes_replaced():
    recipe = TrainConfig(epochs=7, batch_size=64)
    trial = recipe.for_trial(Bias("dual", "seal", 0.3), 5, {"gate_widths": (4,)})
    assert (trial.model, trial.penalty, trial.lam, trial.seed, trial.model_options) == \
        ("dual", "seal", 0.3, 5, {"gate_widths": (4,)})
    assert (trial.epochs, trial.batch_size, trial.lr) == (7, 64, recipe.lr)
    assert trial.bias == Bias("dual", "seal", 0.3)


def test_the_settings_key_changes_with_every_setting_and_the_jets_but_not_the_device():
    base = TrainConfig(model_options={"d_model": 16, "layers": 1})
    key = base.settings_key("jets-a")
    assert dataclasses.replace(base, device="cuda").settings_key("jets-a") == key
    assert TrainConfig(model_options={"layers": 1, "d_model": 16}).settings_key("jets-a") == key
    others = [dataclasses.replace(base, epochs=50), dataclasses.replace(base, lr=0.001),
              dataclasses.replace(base, batch_size=128), dataclasses.replace(base, model_preset="small"),
              dataclasses.replace(base, model_options={"d_model": 32, "layers": 1}),
              dataclasses.replace(base, seed=1)]
    keys = {config.settings_key("jets-a") for config in others} | {base.settings_key("jets-b")}
    assert key not in keys and len(keys) == len(others) + 1


def test_bf16_changes_the_key_and_an_explicit_float32_does_not():
    base = TrainConfig(model_options={"d_model": 16, "layers": 1})
    assert dataclasses.replace(base, precision="float32").settings_key("jets") == base.settings_key("jets")
    assert dataclasses.replace(base, precision="bf16").settings_key("jets") != base.settings_key("jets")


def test_a_checkpoint_config_from_before_the_option_reads_as_float32_and_is_another_run_than_bf16():
    saved = TrainConfig().to_dict()
    del saved["precision"]  # what checkpoints written before the option hold
    old = TrainConfig.from_dict(saved)
    assert old.precision == "float32" and old.same_run(TrainConfig())
    assert not old.same_run(TrainConfig(precision="bf16"))
