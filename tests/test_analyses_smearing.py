"""pT smearing sweep (Glowacki eq. 7): σ = 0 is plain evaluation, seeded noise, AUC loss, bad widths."""

import numpy as np
import pytest
import torch

from raysym.analyses.smearing_sweep import ROW_KEYS, check_sigmas, smeared_momenta, smearing_sweep
from raysym.data.jetset import JetSet
from raysym.errors import ConfigError
from raysym.metrics import accuracy, roc_auc
from raysym.models.predict import predict_logits
from raysym.training import TrainConfig, train
from tests.synthetic import g_vs_w_splits


@pytest.fixture(scope="module")
def parts():
    return g_vs_w_splits(200)


@pytest.fixture(scope="module")
def trained(parts):
    config = TrainConfig(model="teacher", model_preset="small", epochs=5, batch_size=32, seed=0,
                         model_options={"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)})
    return train(config, {"train": parts["train"], "val": parts["val"]}).model


def test_zero_sigma_reproduces_the_unsmeared_auc_exactly(trained, parts):
    test = parts["test"]
    rows = smearing_sweep(trained, test, sigmas=(0.0, 0.3), batch_size=16)
    logits = predict_logits(trained, torch.as_tensor(test.p4), torch.as_tensor(test.mask), 16)
    assert rows[0]["sigma"] == 0.0
    assert rows[0]["roc_auc"] == roc_auc(logits, test.y)
    assert rows[0]["accuracy"] == accuracy(logits, test.y)


def test_rows_name_sigma_task_and_jet_count(trained, parts):
    rows = smearing_sweep(trained, parts["test"])
    assert [r["sigma"] for r in rows] == [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert all(r["task"] == "g_vs_w" and r["n_jets"] == len(parts["test"]) for r in rows)


def test_same_seed_gives_identical_rows_another_seed_differs(trained, parts):
    sigmas = (0.0, 0.5, 1.0)
    a, b, c = (smearing_sweep(trained, parts["test"], sigmas, seed=s) for s in (3, 3, 4))
    assert a == b
    assert a[0] == c[0]
    assert [r["roc_auc"] for r in a[1:]] != [r["roc_auc"] for r in c[1:]]


def test_smeared_jets_depend_on_seed_and_sigma_index_only(parts):
    p4, mask = torch.as_tensor(parts["test"].p4), torch.as_tensor(parts["test"].mask)
    once = smeared_momenta(p4, mask, 0.2, seed=1, index=2)
    assert torch.equal(once, smeared_momenta(p4, mask, 0.2, seed=1, index=2))
    assert not torch.equal(once, smeared_momenta(p4, mask, 0.2, seed=1, index=3))
    assert smeared_momenta(p4, mask, 0.0, seed=1, index=0) is p4


def test_auc_degrades_on_average_as_smearing_grows_large(trained, parts):
    rows = smearing_sweep(trained, parts["test"], sigmas=(0.0, 1.0, 2.0, 4.0))
    clean = rows[0]["roc_auc"]
    assert clean > 0.9
    assert np.mean([r["roc_auc"] for r in rows[1:]]) < clean - 0.1


@pytest.mark.parametrize("sigmas,message", [
    ((), "sigmas is empty"),
    ((0.1, -0.2), "finite and >= 0"),
    ((float("inf"),), "finite and >= 0"),
    ((float("nan"),), "finite and >= 0"),
    (("wide",), "must be numbers"),
])
def test_bad_sigmas_are_rejected_with_a_clear_message(sigmas, message):
    with pytest.raises(ConfigError, match=message):
        check_sigmas(sigmas)


def test_jets_without_a_task_are_rejected(trained, parts):
    plain = JetSet(parts["test"].p4, parts["test"].mask, parts["test"].label, parts["test"].jet_pt,
                   parts["test"].jet_eta, parts["test"].jet_mass)
    with pytest.raises(ConfigError, match="TaskJets"):
        smearing_sweep(trained, plain)
    with pytest.raises(ConfigError, match="finite and >= 0"):
        smearing_sweep(trained, parts["test"], sigmas=(-1.0,))
