"""Study configs: presets are valid, overrides apply, impossible settings fail before Ray starts."""

import pytest

from raysym.errors import ConfigError
from raysym.study import pipeline
from raysym.study.config import Bias, SearchSpace, validate
from raysym.study.presets import PRESETS, preset, smoke


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_and_its_smoke_version_validate(name):
    config = preset(name)
    if config.resources.gpus_per_trial:
        config = config.with_overrides(resources={"gpus_per_trial": 0})
    assert validate(config) is config
    assert validate(smoke(config)).epochs == 2


def test_quick_and_paper_presets_are_the_studies_the_issue_names():
    quick, paper = preset("quick"), preset("paper")
    assert [b.name for b in quick.biases] == ["teacher", "teacher-seal-0.1"] and quick.seeds == (0, 1)
    assert paper.epochs == 100 and paper.seeds == (0, 1, 2) and paper.model_preset == "paper"
    assert paper.resources.gpus_per_trial > 0
    scan = preset("lambda-scan")
    assert {b.lam for b in scan.biases} == {0.0, 0.01, 0.03, 0.1, 0.3, 1.0} and len(scan.seeds) == 3
    assert {b.model for b in preset("dual").biases} == {"teacher", "dual", "invariant"}
    assert preset("asha").search is not None


def test_bias_parsing_and_names():
    assert Bias.parse("teacher:seal:0.03") == Bias("teacher", "seal", 0.03)
    assert Bias.parse("dual") == Bias("dual", "none", 0.0)
    assert Bias.parse("teacher:seal").lam == 0.1
    assert Bias("teacher", "dseal", 0.1, {"method": "grad"}).name == "teacher-dseal-0.1-method=grad"
    with pytest.raises(ConfigError, match="not a number"):
        Bias.parse("teacher:seal:big")


def test_overrides_replace_fields_and_nested_sections():
    config = preset("quick").with_overrides(epochs=3, data={"jets_per_class": 100}, seeds=(4,))
    assert (config.epochs, config.data.jets_per_class, config.seeds) == (3, 100, (4,))
    assert config.data.classes == preset("quick").data.classes
    with pytest.raises(ConfigError, match="unknown study setting"):
        preset("quick").with_overrides(epoch=3)


@pytest.mark.parametrize("overrides,message", [
    ({"biases": (Bias("teacher", "seal", -0.1),)}, "λ must be >= 0"),
    ({"biases": (Bias("teacher", "sael", 0.1),)}, "unknown penalty"),
    ({"biases": (Bias("transformer"),)}, "unknown model kind"),
    ({"biases": (Bias(), Bias())}, "biases given twice"),
    ({"biases": ()}, "at least one bias"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"seeds": (1, 1)}, "seeds must be distinct"),
    ({"data": {"classes": ("g", "w")}}, "need jet classes t,z"),
    ({"eval_tasks": ("g_vs_z",)}, "training task 'g_vs_w' must be among"),
    ({"model_preset": "huge"}, "unknown model preset"),
    ({"name": "my study"}, "study name"),
    ({"resources": {"gpus_per_trial": 0.5}}, "no CUDA GPU"),
    ({"search": SearchSpace(lr_range=(0.1, 0.01))}, "lr_range must be 0 < low < high"),
    ({"search": SearchSpace(grace_period=50)}, "grace period 50 exceeds"),
])
def test_impossible_settings_are_rejected_before_ray_starts(overrides, message, monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    config = preset("quick").with_overrides(**overrides)
    with pytest.raises(ConfigError, match=message):
        pipeline.run_study(config, tmp_path)
    assert not (tmp_path / "store").exists()


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="quick"):
        preset("fast")


@pytest.mark.parametrize("analyses,message", [
    ({"hessian_backend": "scipy"}, "hessian backend must be"),
    ({"trace_probes": 1}, "trace_probes >= 2"),
    ({"hessian_jets": 0}, "hessian_jets must be a positive integer"),
    ({"top_k": 5, "lanczos_steps": 3}, "top_k 5 needs at least"),
    ({"goldstone_points": 4}, "goldstone_points must be odd"),
    ({"smearing_sigmas": (0.0, -0.1)}, "smearing sigmas must be finite and >= 0"),
])
def test_impossible_analysis_settings_are_rejected(analyses, message):
    with pytest.raises(ConfigError, match=message):
        validate(preset("quick").with_overrides(analyses=analyses))


def test_analysis_settings_keys_change_only_with_their_own_settings():
    base = preset("quick").analyses
    more_probes = preset("quick").with_overrides(analyses={"trace_probes": 64}).analyses
    assert more_probes.hessian_key() != base.hessian_key() and more_probes.smearing_key() == base.smearing_key()
    assert more_probes.goldstone_key() != base.goldstone_key()


def test_missing_hls4ml_folder_is_rejected_before_ray_starts(monkeypatch, tmp_path):
    from raysym.errors import DataError

    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    config = preset("quick").with_overrides(data={"hls4ml_dir": str(tmp_path / "nowhere")})
    with pytest.raises(DataError, match="nowhere: no such file or directory"):
        pipeline.run_study(config, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no jetImage_\*.h5 files"):
        validate(preset("quick").with_overrides(data={"hls4ml_dir": str(tmp_path / "empty")}))
