"""Study configs: presets are valid, overrides apply, impossible settings fail before Ray starts."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from raysym.errors import ConfigError
from raysym.generate.config import GeneratorConfig
from raysym.models.registry import model_config
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.analysis_registry import analysis_key
from raysym.stages.training import SearchSpace
from raysym.study import pipeline
from raysym.study.presets import PRESETS, preset, smoke
from raysym.training.config import Bias, TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _atlas_top_files(folder: Path) -> str:
    """A small file of the ATLAS top-tagging layout: 24 QCD and 24 top jets of massless constituents."""
    from raysym.data.dataset_atlas_top import write_atlas_top_file

    rng = np.random.default_rng(0)
    pt = -np.sort(-rng.exponential(40.0, (48, 20)) - 1.0, axis=1)
    eta, phi = rng.normal(0, 0.3, pt.shape), rng.normal(0, 0.3, pt.shape)
    momenta = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1)
    folder.mkdir()
    write_atlas_top_file(folder / "train.h5", momenta, np.arange(48) % 2, rng.uniform(0.5, 2.0, 48))
    return str(folder)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_and_its_smoke_version_validate(name, tmp_path):
    config = preset(name)
    if config.data.spec.generator_classes is None and config.data.dataset != "hls4ml":  # only read from files
        with pytest.raises(ConfigError, match=f"data set '{config.data.dataset}' needs its files"):
            config.validate(local=False)
        config = config.with_overrides(data={"path": _atlas_top_files(tmp_path / "files")})
    assert config.validate(local=False) is config  # on a cluster: the paper preset asks for GPUs
    small = smoke(config).validate()  # the smoke version runs on this machine
    every = config.checkpoints.every
    assert small.recipe.epochs == (2 * every if every else 2)
    # It shows what the preset does: its biases, its data set, and a trajectory of at least two kept epochs.
    assert small.biases == config.biases and small.data.dataset == config.data.dataset
    assert not every or len(small.checkpoints.epochs(small.recipe.epochs)) == 2


def test_the_seal_top_preset_is_the_seal_codes_recipe_on_weighted_atlas_jets():
    config = preset("seal-top")
    assert (config.data.dataset, config.recipe.task, config.evaluation.tasks) == ("atlas-top", "top_vs_qcd",
                                                                                  ("top_vs_qcd",))
    assert (config.recipe.lr, config.recipe.weight_decay, config.recipe.batch_size) == (5e-4, 0.0, 1024)
    assert config.data.spec.weighted and [b.name for b in config.biases] == [
        "teacher", "teacher-seal-0.1", "teacher-dseal-0.1-method=grad"]
    for trial in config.trials("jets").values():
        network = model_config(trial.model, trial.model_preset, **trial.model_options)
        assert (network.dropout, network.jet_axis, trial.task) == (0.1, "pseudorapidity", "top_vs_qcd")


def test_the_paper_preset_trains_every_trial_with_the_recipe_of_glowacki():
    paper = preset("paper")
    recipe = TrainConfig()  # Glowacki §3.3: Adam 0.005 / 5e-4, 100 epochs, paper-size models
    assert [b.name for b in paper.biases] == ["teacher", "teacher-seal-0.1"] and len(paper.seeds) == 3
    for config in paper.trials("jets").values():
        assert (config.lr, config.weight_decay, config.epochs, config.model_preset) == \
            (recipe.lr, recipe.weight_decay, recipe.epochs, recipe.model_preset)
        assert config.device == "cuda"


def test_the_paper_preset_packs_four_float32_trials_onto_each_gpu_worker_of_cluster_yaml():
    """One CPU and a quarter GPU per trial fill a g5.xlarge (4 CPUs, 1 GPU) with four trials, neither
    resource left over; bf16 stays opt-in."""
    import yaml

    nodes = yaml.safe_load((REPO / "cluster.yaml").read_text())["available_node_types"]
    workers = [spec["resources"] for spec in nodes.values() if spec["resources"].get("GPU")]
    training = preset("paper").training
    assert (training.cpus_per_trial, training.gpus_per_trial) == (1, 0.25)
    for resources in workers:
        per_node = training.trials_per_node(resources["CPU"], resources["GPU"])
        assert per_node == 4 == resources["CPU"] / training.cpus_per_trial == resources["GPU"] / training.gpus_per_trial
    assert preset("paper").recipe.precision == "float32" == preset("paper").distillation.recipe.precision


def _study_from_command_line(*argv):
    full = _study_script()
    return full.study_from_args(full.parse_args(list(argv)))


def test_the_precision_flag_reaches_teachers_and_students_and_its_absence_changes_nothing():
    config = _study_from_command_line("--preset", "paper", "--precision", "bf16")
    assert config.recipe.precision == "bf16" and config.distillation.recipe.precision == "bf16"
    assert {trial.precision for trial in config.trials("jets").values()} == {"bf16"}
    assert set(config.trials("jets")).isdisjoint(preset("paper").trials("jets"))  # other numbers, other trials
    assert _study_from_command_line("--preset", "paper") == preset("paper")
    with pytest.raises(SystemExit):
        _study_from_command_line("--precision", "fp16")


def test_the_paper_preset_takes_the_reference_codes_dropout_and_jet_axis_for_teacher_and_student():
    paper = preset("paper")
    for trial in paper.trials("jets").values():
        network = model_config(trial.model, trial.model_preset, **trial.model_options)
        assert (network.dropout, network.jet_axis) == (0.1, "pseudorapidity")
    for student in paper.distillation.students(paper.model_options).values():
        assert (student.model_options["dropout"], student.model_options["jet_axis"]) == (0.1, "pseudorapidity")
    assert smoke(paper).model_options["teacher"]["jet_axis"] == "pseudorapidity"  # smaller, same choices
    quick = preset("quick")
    assert {t.build_model().config.jet_axis for t in quick.trials("jets").values()} == {"rapidity"}


def test_the_network_flags_reach_every_transformer_and_move_the_keys():
    config = _study_from_command_line("--jet-axis", "pseudorapidity", "--dropout", "0.2")
    assert {(t.model_options["jet_axis"], t.model_options["dropout"]) for t in config.trials("jets").values()} \
        == {("pseudorapidity", 0.2)}
    assert set(config.trials("jets")).isdisjoint(preset("quick").trials("jets"))
    # Asking for what the preset already does changes no key; asking the paper preset for it does.
    assert _study_from_command_line("--jet-axis", "rapidity", "--dropout", "0") == preset("quick")
    back = _study_from_command_line("--preset", "paper", "--jet-axis", "rapidity", "--dropout", "0")
    networks = [model_config(t.model, t.model_preset, **t.model_options) for t in back.trials("jets").values()]
    assert {(n.jet_axis, n.dropout) for n in networks} == {("rapidity", 0.0)}
    # The dual model's transformer branch follows, at its preset's sizes; the invariant model has no axis.
    dual = _study_from_command_line("--preset", "dual", "--jet-axis", "pseudorapidity")
    built = {t.model: t.build_model() for t in dual.trials("jets").values()}
    assert built["dual"].general.config.jet_axis == "pseudorapidity" == built["teacher"].config.jet_axis
    assert built["dual"].general.config.d_model == built["teacher"].config.d_model
    with pytest.raises(SystemExit):
        _study_from_command_line("--jet-axis", "beam")
    with pytest.raises(ConfigError, match="dropout must be a number in"):
        _study_from_command_line("--dropout", "1.0")


def test_the_trace_flags_reach_the_analyses():
    config = _study_from_command_line("--trace-method", "hutchinson", "--trace-rel-stderr", "0.05")
    assert config.analyses.trace_method == "hutchinson" and config.analyses.trace_rel_stderr == 0.05
    assert _study_from_command_line().analyses == preset("quick").analyses
    with pytest.raises(ConfigError, match="trace_rel_stderr"):
        _study_from_command_line("--trace-rel-stderr", "5")


def test_analysis_options_are_read_as_json_or_text_and_checked_against_the_registered_analyses():
    config = _study_from_command_line("--analysis-option", "x.n=64", "--analysis-option", "x.name=abc",
                                      "--analysis-option", "x.edges=[1, 2.5]")
    assert config.analyses.options == {"x": {"n": 64, "name": "abc", "edges": [1, 2.5]}}
    with pytest.raises(ConfigError, match="unknown analysis 'x'"):
        config.validate()
    with pytest.raises(ConfigError, match="expected NAME.FIELD=VALUE"):
        _study_from_command_line("--analysis-option", "n=64")


def test_each_trial_is_the_recipe_with_bias_sizes_and_seed_replaced():
    config = preset("dual").with_overrides(model_options={"dual": {"gate_widths": (4,)}})
    trials = config.trials("jets")
    assert len(trials) == len(config.biases) * len(config.seeds)
    for trial_id, trial in trials.items():
        assert trial_id == f"{trial.bias.name}-s{trial.seed}-{trial.settings_key('jets')}"
        assert trial.model_options == config.model_options.get(trial.model, {})
        assert trial == config.recipe.for_trial(trial.bias, trial.seed, trial.model_options)


def test_sections_hold_the_generator_and_recipe_instead_of_copying_them():
    quick = preset("quick")
    assert isinstance(quick.data.generator, GeneratorConfig) and isinstance(quick.recipe, TrainConfig)
    # A section's own checks run when the study is changed through it.
    with pytest.raises(ConfigError, match="chunk size must be a positive integer"):
        quick.with_overrides(data={"generator": {"chunk_size": 0}})
    with pytest.raises(ConfigError, match="unknown data setting"):
        quick.with_overrides(data={"jets": 3})


def test_bias_parsing_and_names():
    assert Bias.parse("teacher:seal:0.03") == Bias("teacher", "seal", 0.03)
    assert Bias.parse("dual") == Bias("dual", "none", 0.0)
    assert Bias.parse("teacher:seal").lam == 0.1
    assert Bias("teacher", "dseal", 0.1, {"method": "grad"}).name == "teacher-dseal-0.1-method=grad"
    with pytest.raises(ConfigError, match="not a number"):
        Bias.parse("teacher:seal:big")


def test_overrides_replace_fields_and_nested_sections():
    config = preset("quick").with_overrides(recipe={"epochs": 3}, data={"generator": {"jets_per_class": 100}},
                                            seeds=(4,))
    assert (config.recipe.epochs, config.data.generator.jets_per_class, config.seeds) == (3, 100, (4,))
    assert config.data.generator.classes == preset("quick").data.generator.classes
    assert config.recipe.batch_size == preset("quick").recipe.batch_size
    with pytest.raises(ConfigError, match="unknown study setting"):
        preset("quick").with_overrides(epoch=3)


@pytest.mark.parametrize("overrides,message", [
    ({"biases": (Bias("teacher", "seal", -0.1),)}, "λ must be finite and >= 0"),
    ({"biases": (Bias("teacher", "sael", 0.1),)}, "unknown penalty"),
    ({"biases": (Bias("transformer"),)}, "unknown model kind"),
    ({"biases": (Bias(), Bias())}, "biases given twice"),
    ({"biases": ()}, "at least one bias"),
    ({"recipe": {"batch_size": 0}}, "batch_size must be a positive integer"),
    ({"recipe": {"epochs": 0}}, "epochs must be a positive integer"),
    ({"seeds": (1, 1)}, "seeds must be distinct"),
    ({"seeds": (0, -1)}, "seed must be a non-negative integer, got -1"),
    ({"data": {"generator": {"classes": ("g", "w")}}}, "need jet classes t,z"),
    ({"data": {"generator": {"jets_per_class": 5}}}, "at least 10 generated jets per class"),
    ({"evaluation": {"tasks": ("g_vs_z",)}}, "training task 'g_vs_w' must be among"),
    ({"evaluation": {"tasks": ("g_vs_w", "g_vs_q")}}, "unknown task 'g_vs_q'; data set 'hls4ml' declare"),
    ({"data": {"dataset": "cms-open"}}, "unknown data set 'cms-open'; registered: .*hls4ml"),
    ({"recipe": {"model_preset": "huge"}}, "unknown model preset"),
    ({"name": "my study"}, "study name"),
    ({"training": {"gpus_per_trial": 0.5}}, "no CUDA GPU"),
    ({"training": {"cpus_per_trial": 0}}, "cpus per trial must be > 0"),
    ({"training": {"cpus_per_trial": 1000}}, "--cpus-per-trial 1000 is more than the .* CPUs of this machine"),
    ({"training": {"gpus_per_trial": float("nan")}}, "GPUs per trial must be >= 0, got nan"),
    ({"recipe": {"lr": float("inf")}}, "learning rate must be finite"),
    ({"biases": (Bias("teacher", "seal", float("inf")),)}, "λ must be finite and >= 0, got inf"),
    ({"analyses": {"cpus_per_task": 64}}, "analyses cpus_per_task 64 is more than"),
    ({"distillation": {"recipe": {"epochs": -1}}}, "distillation epochs must be a positive integer, got -1"),
    ({"distillation": {"recipe": {"model_preset": "huge"}}}, "unknown model preset 'huge'"),
    ({"distillation": {"teachers": "worst"}}, "distillation teachers must be 'all' or 'best'"),
    ({"training": {"max_failures": -1}}, "max_failures must be an integer >= 0"),
    ({"training": {"search": SearchSpace(grace_period=50)}}, "grace period 50 exceeds"),
    ({"training": {"trial_resources": {"accelerator": 1}}},
     "--trial-resource accelerator=1: the local Ray this study starts offers no custom resources"),
    ({"recipe": {"epochs": 1_000_000_000}}, "1,000,000,000 epochs need about .* GB of memory|epoch rows"),
    ({"data": {"generator": {"jets_per_class": 100_000_000}}}, "is 800,000 tasks, more than the 100,000"),
])
def test_impossible_settings_are_rejected_before_ray_starts(overrides, message, monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    with pytest.raises(ConfigError, match=message):
        pipeline.run_study(preset("quick").with_overrides(**overrides), tmp_path)
    assert not (tmp_path / "store").exists()


def test_an_impossible_search_range_fails_when_made():
    with pytest.raises(ConfigError, match="lr_range must be 0 < low < high"):
        SearchSpace(lr_range=(0.1, 0.01))


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="quick"):
        preset("fast")


@pytest.mark.parametrize("analyses,message", [
    ({"hessian_backend": "scipy"}, "hessian backend must be"),
    ({"trace_probes": 1}, "trace_probes >= 2"),
    ({"hessian_jets": 0}, "hessian_jets must be a positive integer"),
    ({"top_k": 5, "lanczos_steps": 3}, "top_k 5 needs at least"),
    ({"goldstone_points": 4}, "odd number of points >= 3"),
    ({"goldstone_eps_max": float("inf")}, "eps_max must be finite and > 0"),
    ({"smearing_sigmas": (0.0, -0.1)}, "sigma must be finite and >= 0"),
    ({"cpus_per_task": 0}, "cpus per task must be > 0"),
])
def test_impossible_analysis_settings_are_rejected(analyses, message):
    with pytest.raises(ConfigError, match=f"analyses: .*{message}"):
        AnalysisSettings(**analyses)


def test_analysis_settings_keys_change_only_with_their_own_settings():
    base = preset("quick").analyses
    more_probes = preset("quick").with_overrides(analyses={"trace_probes": 64}).analyses
    assert analysis_key(more_probes, "hessian") != analysis_key(base, "hessian")
    assert analysis_key(more_probes, "smearing") == analysis_key(base, "smearing")
    assert analysis_key(more_probes, "goldstone") != analysis_key(base, "goldstone")


def test_missing_hls4ml_folder_is_rejected_before_ray_starts(monkeypatch, tmp_path):
    from raysym.errors import DataError

    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    config = preset("quick").with_overrides(data={"path": str(tmp_path / "nowhere")})
    with pytest.raises(DataError, match="nowhere: no such file or directory"):
        pipeline.run_study(config, tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no jetImage_\*.h5 files"):
        preset("quick").with_overrides(data={"path": str(tmp_path / "empty")}).validate()


@pytest.mark.parametrize("out,message", [("a-file", "study output location .*a-file is an existing file"),
                                         ("/dev/null/study", "study output location /dev/null/study cannot be "
                                                             "created")])
def test_an_output_folder_that_cannot_be_used_fails_before_ray_starts(out, message, monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    (tmp_path / "a-file").write_text("")
    target = tmp_path / out if out == "a-file" else out
    with pytest.raises(ConfigError, match=message):
        pipeline.run_study(preset("quick"), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_a_missing_bucket_or_refused_credentials_fail_before_ray_starts(s3, monkeypatch):
    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    with pytest.raises(ConfigError, match="study output location s3://no-such-raysym-bucket/study cannot be "
                                          "written: its bucket does not exist"):
        pipeline.run_study(preset("quick"), "s3://no-such-raysym-bucket/study")
    bucket = s3.bucket()
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(ConfigError, match=f"s3://{bucket}/study cannot be written: the credentials were refused"):
        pipeline.run_study(preset("quick"), f"s3://{bucket}/study")
    monkeypatch.undo()
    assert s3.keys(bucket) == []


def test_broken_hls4ml_files_fail_before_ray_starts_and_before_the_output_folder_exists(monkeypatch, tmp_path):
    from raysym.errors import DataError

    monkeypatch.setattr(pipeline, "ensure_ray", lambda *a, **k: pytest.fail("Ray was started"))
    (tmp_path / "jets").mkdir()
    (tmp_path / "jets" / "jetImage_0_150p_0_10000.h5").write_bytes(b"not hdf5")
    config = preset("quick").with_overrides(data={"path": str(tmp_path / "jets")})
    with pytest.raises(DataError, match="jetImage_0_150p_0_10000.h5: not an HDF5 file"):
        pipeline.run_study(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _study_script():
    spec = importlib.util.spec_from_file_location("studies_full", REPO / "studies" / "full.py")
    full = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(full)
    return full


def test_every_flag_of_a_study_says_what_it_does():
    parser = _study_script().build_parser()
    assert [action.option_strings for action in parser._actions if not action.help] == []


def test_the_help_says_what_every_preset_costs_on_2_cores_and_on_the_cluster():
    from raysym.study.preset_costs import PRESET_COSTS

    assert set(PRESET_COSTS) == set(PRESETS), "a preset without a measured (or projected) cost"
    text = _study_script().build_parser().format_help()
    for name in PRESETS:
        assert re.search(rf"^  {re.escape(name)} +2 cores: .+\n +cluster: .+\n(?: {{20,}}.+\n)* +from: +bench/results/",
                         text, re.M), name


def test_verbose_and_quiet_set_tunes_table_the_trial_lines_and_the_log_level(monkeypatch):
    import logging

    full = _study_script()
    monkeypatch.setattr(logging.getLogger("raysym"), "level", logging.NOTSET)
    monkeypatch.setenv("TUNE_PRINT_ALL_TRIAL_ERRORS", "1")  # restored after the test: console_levels sets a default
    assert full.console_levels(full.parse_args([])) == (0, True)
    assert logging.getLogger("raysym").level == logging.WARNING
    assert full.console_levels(full.parse_args(["--verbose"])) == (1, True)
    assert logging.getLogger("raysym").level == logging.INFO
    assert full.console_levels(full.parse_args(["--quiet"])) == (0, False)
    assert logging.getLogger("raysym").level == logging.ERROR
    with pytest.raises(SystemExit):
        full.parse_args(["--quiet", "--verbose"])
