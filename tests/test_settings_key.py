"""Keys of settings: stable across code versions while new settings sit at their defaults."""

import dataclasses
from dataclasses import dataclass

import pytest

from raysym.settings_key import added_later, canonical, changed_later, keyed_fields, settings_key
from raysym.study.presets import PRESETS, preset, smoke
from raysym.stages.analysis_jobs import AnalysisSettings
from raysym.training.config import TrainConfig
from raysym.training.distill import DistillConfig

#: Keys computed by the code before any setting was added later (commit e6b98e0). If one of these moves,
#: every store made before it would retrain and reanalyse everything on the next run.
STORED_TRIAL_IDS = {
    "quick": ["teacher-s0-6ff5bb15de", "teacher-s1-d351f1b399"],
    "paper": ["teacher-s0-d8f4a55b7b", "teacher-s1-e0307e8fe8"],
    "lambda-scan": ["teacher-dseal-0.01-method=grad-s0-eb50208a19", "teacher-dseal-0.01-method=grad-s1-dbc4331e86"],
    "dual": ["dual-s0-3c110c9137", "dual-s1-65f753f060"],
}
OLD_ANALYSIS_DEFAULTS = dict(trace_method="hutchinson")
STORED_ANALYSIS_KEYS = ("91994c3a9c", "19cce8209f", "aa9e840697", "7ce957b669")


#: The paper preset took the reference code's dropout and jet axis on 2026-12-07: new numbers, new trials.
PAPER_WITH_REFERENCE_SETTINGS = ["teacher-s0-c328a9d354", "teacher-s1-8fb31262cb"]


@pytest.mark.parametrize("name", sorted(STORED_TRIAL_IDS))
def test_trial_ids_of_the_presets_have_not_moved(name):
    config = preset(name)
    if name == "paper":  # the old ids are those of its sizes without the reference settings
        assert sorted(config.trials("abc"))[:2] == PAPER_WITH_REFERENCE_SETTINGS
        config = dataclasses.replace(config, model_options={})
    assert sorted(config.trials("abc"))[:2] == STORED_TRIAL_IDS[name]


def test_run_and_smoke_keys_have_not_moved():
    assert TrainConfig().settings_key("ctx") == "c276296b9d"
    assert DistillConfig().settings_key("ctx") == "5cba4042df"
    assert sorted(smoke(preset("quick")).trials("abc")) == ["teacher-s0-1e6f998b21", "teacher-seal-0.1-s0-70fb7a476d"]
    assert preset("quick").distillation.students({}, "g_vs_w")[0].settings_key("t") == "e469380757"


def test_analysis_keys_of_the_old_defaults_have_not_moved():
    settings = AnalysisSettings(**OLD_ANALYSIS_DEFAULTS)
    keys = (settings.hessian_key(), settings.goldstone_key(), settings.smearing_key(), settings.spectrum_key())
    assert keys == STORED_ANALYSIS_KEYS


@dataclass(frozen=True)
class _Section:
    old: int = 1
    new: float = added_later(0.0)
    listed: tuple = added_later(tuple)


def test_a_field_added_later_is_out_of_the_key_at_its_default_and_in_otherwise():
    assert canonical(_Section()) == canonical({"old": 1})
    assert keyed_fields(_Section(new=0.5)) == {"old": 1, "new": 0.5}
    assert settings_key(canonical(_Section(new=0.5))) != settings_key(canonical(_Section()))
    assert keyed_fields({"inner": [_Section(listed=(1,))]}) == {"inner": [{"old": 1, "listed": (1,)}]}
    assert changed_later(_Section(), "new", "listed") == ()
    assert changed_later(_Section(new=2.0), "new", "listed") == (("new", 2.0),)


def test_every_preset_is_keyed_without_error():
    for name in PRESETS:
        assert len(settings_key(canonical(preset(name)), "x")) == 10


def test_trajectory_and_symmetry_settings_stay_out_of_keys_at_their_defaults():
    text = canonical(preset("quick"))
    assert "analyse_checkpoints" not in text and "symmetry" not in text
    assert canonical(preset("quick").with_overrides(analyse_checkpoints="every:2")) != text
    assert sorted(preset("trajectory").trials("abc"))[:2] == STORED_TRIAL_IDS["quick"]  # its trials are quick's
    changed = AnalysisSettings(symmetry_jets=10)
    assert changed.symmetry_key() != AnalysisSettings().symmetry_key()
    assert changed.hessian_key() == AnalysisSettings().hessian_key()
