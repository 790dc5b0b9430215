"""Analyses are declarations: a toy analysis declared here, and nowhere else, runs in a smoke study, fills
its own table, draws its figure and writes its report section; and the registry refuses what would make
two analyses indistinguishable."""

import sys
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pytest
import torch
from ray import cloudpickle

from raysym.errors import ConfigError
from raysym.report.command import write_report
from raysym.report.document import Paragraph
from raysym.report.figures import FigureSpec
from raysym.report.selection import select_run
from raysym.stages.analysis_settings import AnalysisSettings, subset
from raysym.stages.analysis_registry import analysis_keys, check_options, registered
from raysym.stages.analysis_spec import (AnalysisSpec, PerModelAnalysis, register_analysis,
                                         unregister_analysis)
from raysym.store import ResultStore
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke
from raysym.tables import BOOL, FLOAT, INT, STR, TABLES, Table
from raysym.training.checkpoint import load_best_model


def _draw(run):
    rows = run.table("toy_logits")
    fig, ax = plt.subplots()
    ax.bar(rows["bias"], rows["mean_logit"])
    ax.set(ylabel="mean logit")
    return fig


class MeanLogit(PerModelAnalysis):
    """The mean logit of the training task's first test jets: one job per analysed model."""

    name = table = "toy_logits"
    declares = Table(required={"mean_logit": FLOAT, "n_jets": INT, "settings_key": STR},
                     optional={"bias": STR, "epoch": INT, "best": BOOL}, rows="one model: its mean logit")
    fields = ("symmetry_seed",)  # borrows a seed for its subset of jets

    @dataclass(frozen=True)
    class Options:  # its own settings: nothing in AnalysisSettings is edited for it
        n_jets: int = 16

        def __post_init__(self):
            if self.n_jets < 1:
                raise ValueError("n_jets must be at least 1")
    figures = (FigureSpec("toy_logits", ("toy_logits",), "Mean logit per bias", _draw),)
    report_title = "Mean logit"

    def measure(self, model_path, inputs):
        model, _, _ = load_best_model(model_path)
        n_jets = self.options_of(inputs.settings).n_jets
        jets = subset(inputs.test_jets.for_task(inputs.task), n_jets, inputs.settings.symmetry_seed)
        with torch.no_grad():
            logits = model(jets.p4, jets.mask)
        return [{"mean_logit": float(logits.mean()), "n_jets": len(jets.y)}]

    def model_cost(self, settings, n_test_jets):
        return float(self.options_of(settings).n_jets)

    def report_blocks(self, run):
        rows = run.table("toy_logits")
        return [Paragraph(f"Mean logit over {len(rows)} models: {rows['mean_logit'].mean():.4f}.")]


@pytest.fixture
def toy():
    # pytest imports this file under a name Ray's workers cannot import; the spec travels with each task,
    # so it goes by value, as a spec declared in a user's study script (__main__) does anyway.
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    spec = register_analysis(MeanLogit())
    yield spec
    unregister_analysis(spec.name)
    cloudpickle.unregister_pickle_by_value(module)


def test_a_toy_analysis_declared_here_runs_in_a_smoke_study_and_fills_its_table(ray_local, study_jets_dir, toy,
                                                                                 tmp_path):
    config = smoke(preset("quick")).with_overrides(
        name="toy", data={"path": study_jets_dir}, distillation={"enabled": False},
        analyses={"hessian": False, "smearing": False, "symmetry": False, "options": {"toy_logits": {"n_jets": 12}}})
    outcome = run_study(config, tmp_path, verbose=0, progress=False)
    assert not outcome.errors and outcome.analysed["toy_logits"] == 2
    rows = ResultStore(outcome.store_path).load("toy_logits")
    assert sorted(rows["trial_id"]) == sorted(outcome.trial_ids) and (rows["n_jets"] == 12).all()
    assert (rows["settings_key"] == toy.key(config.analyses)).all() and rows["best"].all()
    run = select_run(outcome.store_path, "toy", outcome.run_key)
    assert run.keys["toy_logits"] == toy.key(config.analyses) and len(run.table("toy_logits")) == 2
    written = write_report(run, tmp_path / "report")
    assert ("figures/toy_logits.png", "Mean logit per bias") in written.figures
    assert "## Mean logit\n\nMean logit over 2 models" in (tmp_path / "report" / "report.md").read_text()
    again = run_study(config, tmp_path, verbose=0, progress=False)
    assert again.analysed["toy_logits"] == 0  # stored under its key: a rerun skips it


def test_a_toy_analysis_has_its_own_key_from_its_own_section(toy):
    base = AnalysisSettings()
    assert toy.key(base) != toy.key(AnalysisSettings(symmetry_seed=1))
    assert toy.key(base) == toy.key(AnalysisSettings(smearing_seed=1, hessian_jets=64))
    assert toy.key(base) == toy.key(AnalysisSettings(options={"toy_logits": {"n_jets": 16}}))  # its default
    assert toy.key(base) != toy.key(AnalysisSettings(options={"toy_logits": {"n_jets": 8}}))
    assert set(analysis_keys(base)) == {spec.name for spec in registered()} >= {"toy_logits", "hessian"}
    assert "toy_logits" in TABLES
    unregister_analysis("toy_logits")
    assert "toy_logits" not in TABLES and "toy_logits" not in analysis_keys(base)


def test_options_that_an_analysis_does_not_declare_are_one_clear_error(toy):
    with pytest.raises(ConfigError, match="'toy_logits': unknown option.*n_jet;"):
        check_options(AnalysisSettings(options={"toy_logits": {"n_jet": 8}}))
    with pytest.raises(ConfigError, match="'toy_logits': bad options.*n_jets must be at least 1"):
        check_options(AnalysisSettings(options={"toy_logits": {"n_jets": 0}}))
    with pytest.raises(ConfigError, match="'hessian' has no options of its own"):
        check_options(AnalysisSettings(options={"hessian": {"n": 1}}))
    with pytest.raises(ConfigError, match="unknown analysis 'nope'"):
        check_options(AnalysisSettings(options={"nope": {}}))
    with pytest.raises(ConfigError, match="options must map an analysis name"):
        AnalysisSettings(options={"toy_logits": 3})


def test_the_registry_refuses_a_second_analysis_of_a_name_or_a_second_provider(toy):
    class Other(MeanLogit):
        pass

    with pytest.raises(ConfigError, match="'toy_logits' is registered already"):
        register_analysis(Other())

    class Thief(AnalysisSpec):
        name = table = "thief"
        provides = ("nu1",)

    with pytest.raises(ConfigError, match="product 'nu1' is provided by 'hessian' already"):
        register_analysis(Thief())

