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


@pytest.mark.parametrize("penalty,lam,precision", [("none", 0.0, "float32"), ("seal", 0.1, "float32"),
                                                    ("dseal", 0.01, "float32"), ("none", 0.0, "bf16"),
                                                    ("seal", 0.1, "bf16")])
def test_stop_and_resume_equals_uninterrupted_bitwise(data, tmp_path, penalty, lam, precision):
    config = tiny(penalty=penalty, lam=lam, epochs=3, precision=precision)
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
    ({"task": ""}, "a task is named by a non-empty string"),
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


# -- bf16 autocast (docs/methods.md §5) -----------------------------------------------------------------


@pytest.mark.parametrize("penalty,lam,options", [("none", 0.0, {}), ("seal", 0.1, {}), ("dseal", 0.01, {}),
                                                 ("dseal", 0.01, {"method": "grad"})])
def test_bf16_trains_in_float32_weights_with_other_numbers_than_float32(data, penalty, lam, options):
    """The option is real (other losses and weights than float32), yet only the steps' network runs in
    bfloat16: weights, Adam's moments and the run's numbers stay float32 and finite. δSEAL's forward-mode
    JVP and its reverse-mode double backward (math attention) both run under autocast."""
    runs = {precision: train(tiny(penalty=penalty, lam=lam, penalty_options=options, epochs=1, precision=precision),
                             data) for precision in ("float32", "bf16")}
    bf16 = runs["bf16"]
    assert all(np.isfinite(h[k]) for h in bf16.history for k in ("train_loss", "train_penalty", "val_loss"))
    assert bf16.history[0]["train_loss"] != runs["float32"].history[0]["train_loss"]
    assert {p.dtype for p in bf16.model.parameters()} == {torch.float32}
    moments = [t for state in bf16.checkpoint["optimizer"]["state"].values() for t in state.values() if t.dim()]
    assert moments and {t.dtype for t in moments} == {torch.float32}
    float32_weights = runs["float32"].model.state_dict()
    assert not all(torch.equal(v, float32_weights[k]) for k, v in bf16.model.state_dict().items())
    assert not torch.is_autocast_enabled("cpu")  # nothing of the step's autocast outlives it


def test_the_hessian_of_a_bf16_trained_model_is_float32_without_autocast(data):
    """Hessians stay float32: after a bf16 run no autocast is active, so the loss closure's forward passes and
    its HVPs are float32, equal to those of the same weights in a model that never saw bf16."""
    from raysym.hessian import HessianOperator, training_loss_closure
    from raysym.hessian.closure import bce_loss

    model = train(tiny(epochs=1, precision="bf16"), data).model
    seen = []

    def loss_fn(net, batch):
        seen.append((torch.is_autocast_enabled("cpu"), net(batch.p4, batch.mask).dtype))
        return bce_loss(net, batch)

    jets = data["train"]
    fresh = tiny().build_model()
    fresh.load_state_dict(model.state_dict())
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0))
    hvps = [HessianOperator(training_loss_closure(net, jets.p4, jets.mask, jets.y, 64, 64, loss_fn=loss_fn))(v)
            for net in (model, fresh)]
    assert hvps[0].dtype == torch.float32 and torch.equal(hvps[0], hvps[1])
    assert seen and set(seen) == {(False, torch.float32)}
    with torch.autocast("cpu", dtype=torch.bfloat16):  # even a caller inside a bf16 region gets float32
        inside = HessianOperator(training_loss_closure(fresh, jets.p4, jets.mask, jets.y, 64, 64, loss_fn=loss_fn))(v)
    assert torch.equal(inside, hvps[1]) and set(seen) == {(False, torch.float32)}


def test_bf16_where_the_device_cannot_is_a_clear_error_before_any_work(data, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)  # a pre-Ampere GPU
    config = tiny(device="cuda", precision="bf16")
    with pytest.raises(ConfigError, match="precision 'bf16' needs a CUDA GPU with native bfloat16"):
        train(config, data)
    tiny(precision="bf16").check_device()  # autocast with bfloat16 is supported on every CPU
