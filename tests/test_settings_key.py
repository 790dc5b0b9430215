"""Keys of settings: one rule for every section — all its fields but an explicit excluded set — checked by
walking every field of every section, so a field added later is covered without a new test."""

import dataclasses
import json

import pytest

from raysym.settings_key import canonical, excluded_fields, keyed_fields, record_text, settings_key
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.analysis_registry import analysis_keys, registered
from raysym.stages.analysis_spec import AnalysisSpec, register_analysis, unregister_analysis
from raysym.stages.evaluation import EvaluationSettings
from raysym.study.config import StudyConfig
from raysym.study.migration import filled_record, v1_analysis_keys, v1_run_key, v1_text
from raysym.study.presets import PRESETS, preset, smoke
from raysym.training.config import TrainConfig
from raysym.training.distill import DistillConfig

#: A value other than the default, for fields whose type alone does not say what is valid.
OTHER = {
    "model": "dual", "model_preset": "small", "penalty": "dseal", "task": "g_vs_z", "device": "cuda",
    "precision": "bf16", "penalty_options": {"method": "grad"}, "model_options": {"d_model": 16},
    "hessian_backend": "pyhessian", "trace_method": "hutchinson", "trace_rel_stderr": 0.05,
    ("StudyConfig", "model_options"): {"teacher": {"d_model": 16}}, "tasks": ("g_vs_w", "g_vs_z"),
    "analyse_checkpoints": "every:2", "name": "other", "goldstone_points": 31,
    "options": {"with_options": {"n": 2}}, "dataset": "toptag", "track": ("mlflow",),
}


class WithOptions(AnalysisSpec):
    """An analysis with settings of its own, as one added as a module declares them: registered while
    these tests run, so that the walk covers ``AnalysisSettings.options`` like any other field."""

    name = table = "with_options"

    @dataclasses.dataclass(frozen=True)
    class Options:
        n: int = 1


@pytest.fixture(autouse=True)
def with_options():
    spec = register_analysis(WithOptions())
    yield spec
    unregister_analysis(spec.name)


def other_value(section, name: str):
    """A valid value of ``section.name`` other than its own."""
    value = getattr(section, name)
    if (type(section).__name__, name) in OTHER:
        return OTHER[type(section).__name__, name]
    if name in OTHER:
        return OTHER[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 2 if value else 0.5
    if isinstance(value, tuple):
        return value[:1] + value[2:] if len(value) > 2 else value + value[-1:]
    if dataclasses.is_dataclass(value):  # a section inside a section: change its first changeable field
        inner = next(f.name for f in dataclasses.fields(value) if getattr(value, f.name) is not None)
        return dataclasses.replace(value, **{inner: other_value(value, inner)})
    raise AssertionError(f"{type(section).__name__}.{name}: the test needs another value for {value!r} in OTHER")


#: Every settings section whose key identifies stored results, with a base that lets each field change on
#: its own (λ needs a penalty; the PyHessian backend needs separate spectrum probes), and its key.
SECTIONS = {
    "teacher run": (TrainConfig(model_preset="paper", penalty="seal", lam=0.1), lambda c: c.settings_key("jets")),
    "student run": (DistillConfig(), lambda c: c.settings_key("teacher")),
    "evaluation": (EvaluationSettings(), lambda c: c.key()),
    "analyses": (AnalysisSettings(spectrum_probes=1), lambda c: tuple(analysis_keys(c).values())),
    "study run": (StudyConfig(name="study"), lambda c: settings_key(record_text(c), "jets")),
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_field_outside_the_excluded_set_changes_the_key_and_no_excluded_one_does(section):
    base, key = SECTIONS[section]
    excluded = excluded_fields(base)
    assert excluded <= {f.name for f in dataclasses.fields(base)}, "an excluded field the section does not have"
    for field in dataclasses.fields(base):
        changed = dataclasses.replace(base, **{field.name: other_value(base, field.name)})
        assert getattr(changed, field.name) != getattr(base, field.name), field.name
        if field.name in excluded:
            assert key(changed) == key(base), f"{section}: excluded field {field.name} moved the key"
        else:
            assert key(changed) != key(base), f"{section}: field {field.name} is not in the key"


def test_every_analysis_field_is_in_some_analysis_section_or_excluded_and_each_key_has_only_its_own():
    fields = {f.name for f in dataclasses.fields(AnalysisSettings)}
    sections = {spec.name: set(spec.fields) | ({"options"} if spec.Options else set()) for spec in registered()}
    assert set().union(*sections.values()) | AnalysisSettings.KEY_EXCLUDED == fields
    base = AnalysisSettings(spectrum_probes=1)
    for spec in registered():
        for name in fields - sections[spec.name]:
            changed = dataclasses.replace(base, **{name: other_value(base, name)})
            upstream = any(name in sections[a] for a in spec.after)
            assert (spec.key(changed) != spec.key(base)) == upstream, f"{spec.name} key and field {name}"


def test_the_trace_group_size_has_its_own_hessian_key():
    """Two settings that differed only in probes_per_task once shared a key while giving 34 and 40 probes."""
    keys = {analysis_keys(AnalysisSettings(trace_rel_stderr=0.1, probes_per_task=n))["hessian"] for n in (2, 8)}
    assert len(keys) == 2


def test_the_keys_of_the_current_schema_have_not_moved():
    """Pinned so that a change that moves them is seen: it needs a schema version and a migration."""
    assert TrainConfig().settings_key("ctx") == "14cb174e39"
    assert DistillConfig().settings_key("ctx") == "5f4bfe4f74"
    assert sorted(smoke(preset("quick")).trials("abc")) == ["teacher-s0-a29171677d", "teacher-seal-0.1-s0-e778645352"]
    unregister_analysis("with_options")
    assert analysis_keys(AnalysisSettings()) == {"hessian": "ac03e583ab", "spectrum": "2b73de8450",
                                                 "goldstone": "6ac9292517", "smearing": "e0f0fd45fa",
                                                 "symmetry": "57f81b0767"}
    assert EvaluationSettings().key() == "05070646e5"


#: Schema 1's ids and keys as that code stored them (commits e6b98e0 and 15367d9): the migration's frozen
#: copy of the old rules must give them back, or it cannot find what to rename.
SCHEMA1_TRIAL_IDS = {
    "quick": ["teacher-s0-6ff5bb15de", "teacher-s1-d351f1b399"],
    "lambda-scan": ["teacher-dseal-0.01-method=grad-s0-eb50208a19", "teacher-dseal-0.01-method=grad-s1-dbc4331e86"],
    "dual": ["dual-s0-3c110c9137", "dual-s1-65f753f060"],
}


@pytest.mark.parametrize("name", sorted(SCHEMA1_TRIAL_IDS))
def test_the_migrations_copy_of_the_old_rule_gives_the_old_ids(name):
    config = preset(name)
    ids = sorted(f"{bias.name}-s{seed}-{v1_run_key(config._trial(bias, seed, 'cpu'), 'abc')}"
                 for bias in config.biases for seed in config.seeds)
    assert ids[:2] == SCHEMA1_TRIAL_IDS[name]
    assert v1_run_key(TrainConfig(), "ctx") == "c276296b9d" and v1_run_key(DistillConfig(), "ctx") == "5cba4042df"
    keys = v1_analysis_keys(AnalysisSettings(trace_method="hutchinson"))
    assert (keys["hessian"], keys["goldstone"], keys["smearing"], keys["spectrum"]) == \
        ("91994c3a9c", "19cce8209f", "aa9e840697", "7ce957b669")


def test_a_schema1_record_filled_is_the_current_record_of_the_same_configuration():
    config = preset("quick")
    old = json.loads(v1_text(config))
    assert "analyse_checkpoints" not in old and "precision" not in old["recipe"] and "symmetry" not in old["analyses"]
    assert json.dumps(filled_record(old, config), sort_keys=True, separators=(",", ":")) == record_text(config)


def test_every_preset_is_keyed_without_error_and_a_record_keeps_the_excluded_fields():
    for name in PRESETS:
        assert len(settings_key(canonical(preset(name)), "x")) == 10
    record = json.loads(record_text(preset("quick")))
    assert record["recipe"]["device"] == "cpu" and record["analyses"]["cpus_per_task"] == 1.0
    assert "device" not in keyed_fields(preset("quick").recipe)
