"""One training run: per-epoch reports, best-validation weights, bitwise resume, seeds, bad settings."""

import dataclasses

import numpy as np
import pytest
import torch

from raysym.errors import ConfigError, DataError
from raysym.training import TrainConfig, train
from raysym.training.checkpoint import load_checkpoint, save_checkpoint
from tests.synthetic import g_vs_w_splits

METRICS = {"epoch", "train_bce", "train_penalty", "train_loss", "val_loss", "val_bce", "val_penalty",
           "val_accuracy", "val_roc_auc", "best_epoch", "epoch_seconds", "jets_per_second"}


def tiny(**overrides):
    options = dict(model="teacher", model_preset="small", model_options={"d_model": 16, "heads": 2, "ff": 16,
                   "layers": 1, "head_widths": (16,)}, epochs=3, batch_size=32, seed=0)
    options.update(overrides)
    return TrainConfig(**options)


@pytest.fixture(scope="module")
def data():
    parts = g_vs_w_splits(120)
    return {"train": parts["train"], "val": parts["val"]}


def test_every_epoch_reports_all_metrics_and_a_checkpoint(data):
    reports = []
    result = train(tiny(penalty="seal", lam=0.1), data, report=lambda m, c: reports.append((m, c)))
    assert [m["epoch"] for m, _ in reports] == [1, 2, 3]
    assert all(METRICS <= set(m) for m, _ in reports)
    assert all(m["train_penalty"] > 0 and np.isfinite(m["val_loss"]) for m, _ in reports)
    assert reports[-1][1]["epoch"] == 3 and len(result.history) == 3


def test_best_validation_weights_are_the_ones_returned(data):
    checkpoints = []
    result = train(tiny(epochs=4), data, report=lambda m, c: checkpoints.append(c))
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    best = checkpoints[result.best_epoch - 1]["model"]
    assert all(torch.equal(best[k], v) for k, v in result.model.state_dict().items())


@pytest.mark.parametrize("penalty,lam", [("none", 0.0), ("seal", 0.1), ("dseal", 0.01)])
def test_stop_and_resume_equals_uninterrupted_bitwise(data, tmp_path, penalty, lam):
    config = tiny(penalty=penalty, lam=lam, epochs=3)
    full = train(config, data)
    saved = []
    train(dataclasses.replace(config), data, report=lambda m, c: saved.append(c) if m["epoch"] == 1 else None)
    path = save_checkpoint(saved[0], tmp_path / "epoch1.pt")
    resumed = train(config, data, checkpoint=load_checkpoint(path))
    for key, value in full.checkpoint["model"].items():
        assert torch.equal(resumed.checkpoint["model"][key], value), key
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]


def test_same_seed_same_weights_other_seed_differs(data):
    a, b, c = (train(tiny(epochs=1, seed=s), data).model.state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_resume_refuses_a_checkpoint_of_another_run(data):
    run = train(tiny(epochs=1), data)
    with pytest.raises(ConfigError, match="different run"):
        train(tiny(epochs=1, seed=1), data, checkpoint=run.checkpoint)


@pytest.mark.parametrize("overrides,message", [
    ({"penalty": "seal", "lam": -0.1}, "λ must be finite and >= 0"),
    ({"penalty": "sael"}, "unknown penalty 'sael'"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"task": "g_vs_x"}, "unknown task"),
    ({"lam": 0.1}, "penalty 'none' has nothing to weight"),
])
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny(**overrides)


def test_bad_data_is_a_clear_error(data):
    with pytest.raises(DataError, match="no 'val' split"):
        train(tiny(), {"train": data["train"]})
    only_gluons = data["train"].subset(np.flatnonzero(data["train"].y == 0))
    with pytest.raises(DataError, match="only one class"):
        train(tiny(), {"train": only_gluons, "val": data["val"]})


def test_best_model_file_round_trips_the_best_weights(data, tmp_path):
    from raysym.models.predict import predict_logits
    from raysym.training.checkpoint import load_best_model, save_best_model

    result = train(tiny(epochs=2), data)
    path = save_best_model(result.checkpoint, tmp_path / "best.pt")
    model, config, saved = load_best_model(path)
    assert config == result.config and saved["best_epoch"] == result.best_epoch
    p4, mask = torch.as_tensor(data["val"].p4), torch.as_tensor(data["val"].mask)
    assert np.array_equal(predict_logits(model, p4, mask), predict_logits(result.model, p4, mask))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="junk.pt cannot be read"):
        load_best_model(tmp_path / "junk.pt")
