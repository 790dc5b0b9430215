"""Which weights a study analyses: parsing analyse_checkpoints, the kept epochs, the models listed."""

import pandas as pd
import pytest

from raysym.errors import ConfigError, DataError
from raysym.stages.checkpoints import (
    CheckpointChoice,
    analysed_models,
    best_models,
    describe,
    epoch_model_path,
    missing_epochs,
    model_key,
)

TRIALS = pd.DataFrame({"study": "s", "trial_id": ["a", "b"], "model": "teacher", "penalty": "none", "lam": 0.0,
                       "seed": [0, 1], "model_path": ["/m/a.pt", "/m/b.pt"], "best_epoch": [4, 3], "epochs": [6, 5]})


def kept(every, trials=TRIALS):
    return pd.DataFrame([{"trial_id": t, "epoch": e, "model_path": epoch_model_path("/m", t, e)}
                         for t, n in zip(trials["trial_id"], trials["epochs"]) for e in range(every, n + 1, every)])


@pytest.mark.parametrize("spec, every", [("best", None), ("every:1", 1), ("every:5", 5)])
def test_settings_parse(spec, every):
    assert CheckpointChoice.parse(spec).every == every


@pytest.mark.parametrize("spec", ["every:0", "every:", "every:-2", "all", "every 5", 5, "Every:2"])
def test_bad_settings_are_one_config_error_saying_what_is_accepted(spec):
    with pytest.raises(ConfigError, match=r"\"best\" or \"every:K\""):
        CheckpointChoice.parse(spec)


def test_every_k_keeps_k_2k_and_so_on_up_to_the_epochs_run():
    assert CheckpointChoice(2).epochs(7) == [2, 4, 6] and CheckpointChoice(1).epochs(2) == [1, 2]
    assert CheckpointChoice(None).epochs(7) == [] and CheckpointChoice(5).epochs(4) == []
    assert CheckpointChoice(3).keeps(6) and not CheckpointChoice(3).keeps(4) and not CheckpointChoice().keeps(3)


def test_best_models_keep_the_keys_results_had_before_trajectories():
    models = best_models(TRIALS)
    assert list(models["model_id"]) == ["a", "b"] and models["best"].all() and list(models["epoch"]) == [4, 3]
    assert model_key(models.iloc[0], "k1") == "a-k1" == model_key(TRIALS.iloc[0], "k1")
    assert describe(models.iloc[0]) == "trial a"


def test_kept_epochs_are_listed_after_the_best_models_and_the_best_epoch_only_once():
    models = analysed_models(TRIALS, kept(2), CheckpointChoice(2))
    assert list(zip(models["model_id"], models["epoch"], models["best"])) == [
        ("a", 4, True), ("b", 3, True), ("a-e2", 2, False), ("a-e6", 6, False), ("b-e2", 2, False),
        ("b-e4", 4, False)]
    assert models.set_index("model_id").loc["a-e6", "model_path"] == "/m/epochs/a-e6.pt"
    assert describe(models.iloc[2]) == "trial a at epoch 2"
    assert analysed_models(TRIALS, None, CheckpointChoice()).equals(best_models(TRIALS))


def test_epochs_without_kept_weights_are_named():
    partial = kept(2).iloc[1:]  # a-e2 lost
    assert missing_epochs(TRIALS, partial, CheckpointChoice(2)) == {"a": [2]}
    assert missing_epochs(TRIALS, kept(2).iloc[:0], CheckpointChoice(2)) == {"a": [2, 4, 6], "b": [2, 4]}
    with pytest.raises(DataError, match=r"no kept weights for epoch\(s\) of 1 trial\(s\) \(a: 2\)"):
        analysed_models(TRIALS, partial, CheckpointChoice(2))
