"""A Tune stage's console and what Tune sees of its trials (raysym.stages.trial_lines, tune_trials.grid_space):
one line per trial event (started, finished with its best epoch's numbers, failed and retried), trials
named readably with their key beside, and their hyperparameters in Tune's config, so its data frames and
TensorBoard's HParams show them. A real Tune run of a trainable that reports made-up epochs."""

from __future__ import annotations

import glob
import io
import os
import struct

import pytest
from ray import tune
from ray.tune import ExperimentAnalysis

from raysym.stages.training import METRIC, SEARCH, SearchSpace, TrainingSettings, hyperparameters, param_space
from raysym.stages.trial_lines import TrialLines
from raysym.stages.tune_trials import base_space, build_tuner, fit, grid_space, trial_id_of
from tests.synthetic import tiny_config

EPOCHS = 3
#: Per trial: the validation BCE of epochs 1..3 (the best is the lowest) and when it fails: never, once
#: after epoch 2, or always after epoch 1 (Tune gives up after its one retry).
CURVES = {"teacher-s0-aaaa": ([0.6, 0.4, 0.5], None), "teacher-seal-0.1-s0-bbbb": ([0.7, 0.65, 0.3], "once"),
          "dual-s0-cccc": ([0.5, 0.5, 0.5], "always")}


@pytest.fixture(scope="module")
def made_up_run(ray_local, tmp_path_factory):
    """The made-up grid as one Tune run through build_tuner, with its console lines captured."""
    curves = CURVES

    def made_up_trial(config, marker_dir):
        """Reports the epochs of the curve its id names; the second trial raises once after epoch 2 and Tune
        retries it (from epoch 1: it has no checkpoint). Defined here so Ray ships it by value."""
        trial_id = trial_id_of(config, None)
        curve, fails = curves[trial_id]
        marker = os.path.join(marker_dir, trial_id)
        best = None
        for epoch, bce in enumerate(curve, start=1):
            best = epoch if best is None or bce < curve[best - 1] else best
            tune.report({"epoch": epoch, "val_bce": bce, "val_roc_auc": 1 - bce / 2, "val_accuracy": 1 - bce / 3,
                         "best_epoch": best})
            if fails == "once" and epoch == 2 and not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("made-up failure after epoch 2")
            if fails == "always":
                raise ValueError("made-up failure every time")

    out = tmp_path_factory.mktemp("tune-console")
    points = {trial_id: {"name": trial_id.rpartition("-")[0], "key": trial_id.rpartition("-")[2],
                         "bias": trial_id.split("-s")[0], "epochs": EPOCHS, "lr": 0.001}
              for trial_id in CURVES}
    settings = TrainingSettings(max_failures=1)
    stream = io.StringIO()
    tuner = build_tuner("made-up", made_up_trial, grid_space(points, base_space(settings, out)), settings, out,
                        tune_config=tune.TuneConfig(metric="val_bce", mode="min"), verbose=0,
                        callbacks=[TrialLines("training", stream=stream, bar=False)],
                        marker_dir=str(out))
    results = fit(tuner, "training")
    return out, results, stream.getvalue().splitlines()


def test_each_trial_event_is_one_line_naming_the_trial_readably(made_up_run):
    _, _, lines = made_up_run
    started = [line for line in lines if " started " in line]
    assert sorted(started) == ["training: started dual-s0  (key cccc)", "training: started teacher-s0  (key aaaa)",
                               "training: started teacher-seal-0.1-s0  (key bbbb)"]
    assert sorted(line for line in lines if "failed after epoch" in line) == [
        "training: dual-s0 failed after epoch 1: ValueError: made-up failure every time; retry 1 resumes it from "
        "its last checkpoint",
        "training: teacher-seal-0.1-s0 failed after epoch 2: RuntimeError: made-up failure after epoch 2; retry 1 "
        "resumes it from its last checkpoint"]
    assert "training: resumed teacher-seal-0.1-s0  (key bbbb)" in lines
    assert "training: resumed dual-s0  (key cccc)" in lines
    [given_up] = [line for line in lines if "FAILED" in line]
    assert given_up.startswith("training: dual-s0 FAILED after epoch 1 and 1 retries: ValueError: made-up failure "
                               "every time (traceback: ") and given_up.endswith("error.txt)")
    finished = sorted(line.rsplit(" (", 1)[0] for line in lines if " finished " in line)
    assert finished == [
        "training: finished teacher-s0: best epoch 2 of 3, val BCE 0.4000, val ROC-AUC 0.8000, val accuracy 0.8667",
        "training: finished teacher-seal-0.1-s0: best epoch 3 of 3, val BCE 0.3000, val ROC-AUC 0.8500, "
        "val accuracy 0.9000"]
    assert len(lines) == 10  # three started, two failed and resumed, one failed for good, two finished


def test_trials_are_named_and_foldered_by_their_ids_and_carry_their_hyperparameters(made_up_run):
    out, results, _ = made_up_run
    frame = results.get_dataframe()
    assert sorted(frame["config/trial/name"]) == ["dual-s0", "teacher-s0", "teacher-seal-0.1-s0"]
    assert sorted(frame["config/trial/key"]) == ["aaaa", "bbbb", "cccc"] and set(frame["config/trial/lr"]) == {0.001}
    assert sorted(os.path.basename(result.path) for result in results) == sorted(CURVES)
    analysis = ExperimentAnalysis(str(out / "tune" / "made-up"))
    assert {"config/trial/bias", "config/trial/epochs"} <= set(analysis.dataframe().columns)
    assert results.get_best_result().config["trial"]["name"] == "teacher-seal-0.1-s0"  # lowest val BCE


def hparams_of(event_file: str) -> set[str]:
    """The hyperparameter names of the HParams session-start summary in a TensorBoard event file (TFRecord
    framing: length, its CRC, the record, its CRC), read with tensorboardX's protobuf classes."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData

    names, data = set(), open(event_file, "rb").read()
    offset = 0
    while offset < len(data):
        length = struct.unpack("<Q", data[offset:offset + 8])[0]
        event = Event.FromString(data[offset + 12:offset + 12 + length])
        offset += 12 + length + 4
        for value in event.summary.value:
            if value.metadata.plugin_data.plugin_name == "hparams":
                plugin = HParamsPluginData.FromString(value.metadata.plugin_data.content)
                names |= set(plugin.session_start_info.hparams)
    return names


def test_tensorboard_hparams_hold_the_hyperparameters(made_up_run):
    _, results, _ = made_up_run
    for result in results:
        events = glob.glob(os.path.join(result.path, "events.out.tfevents.*"))
        assert events, "Tune's TensorBoard logger wrote no event file"
        assert {"trial/name", "trial/key", "trial/bias", "trial/lr", "trial/epochs"} <= set().union(
            *map(hparams_of, events))


def test_real_trials_show_what_they_compare_and_rank_on_a_metric_every_bias_shares():
    config = tiny_config(0)
    values = hyperparameters("teacher-s0-0123456789", config)
    assert values["name"] == "teacher-s0" and values["key"] == "0123456789"
    assert {"bias", "model", "model_preset", "penalty", "lam", "seed", "lr", "epochs", "batch_size"} <= set(values)
    assert METRIC == "val_bce"  # BCE + λ·penalty differs by λ: not comparable across biases
    space = param_space({"teacher-s0-0123456789": config}, TrainingSettings(), "/out")
    assert space["trial"] == {"grid_search": [{"trial_id": "teacher-s0-0123456789", **values}]}
    search = param_space({SEARCH: config}, TrainingSettings(search=SearchSpace()), "/out")
    [fixed] = search["trial"]["grid_search"]
    assert fixed["model"] == config.model and fixed["epochs"] == config.epochs and not {"name", "lr", "lam"} & set(fixed)
