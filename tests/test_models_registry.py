"""Model registry: exact parameter counts, presets, reproducible construction, config errors, CLI table."""

import argparse
import dataclasses

import pytest
import torch

from raysym.errors import ConfigError
from raysym.models import (
    DualConfig,
    InvariantConfig,
    TransformerConfig,
    build_model,
    command,
    count_parameters,
    model_from_config,
    model_kinds,
    preset_names,
    register_model,
)
from raysym.models.kinds import REGISTRY


def test_teacher_has_exactly_the_documented_parameter_count():
    assert count_parameters(build_model("teacher", "paper")) == 1_255_425


def test_student_matches_the_paper_parameter_count_exactly():
    assert count_parameters(build_model("student", "paper")) == 487_665


def test_teacher_layers_match_torch_encoder_layer_parameter_count():
    # Our hand-written post-norm layer has the same parameters as torch's reference layer.
    ref = torch.nn.TransformerEncoderLayer(256, 4, dim_feedforward=256, batch_first=True)
    ours = build_model("teacher").body.layers[0]
    assert count_parameters(ours) == count_parameters(ref) == 395_776


@pytest.mark.parametrize("preset", preset_names())
def test_every_kind_of_every_preset_builds_and_small_is_smaller(preset):
    for kind in model_kinds():
        model = build_model(kind, preset)
        assert model.kind == kind
        assert count_parameters(model) > 0
    assert count_parameters(build_model("teacher", "small")) < count_parameters(build_model("student", "paper"))


def test_model_construction_is_deterministic_given_the_seed():
    for kind in model_kinds():
        torch.manual_seed(7)
        a = build_model(kind, "small").state_dict()
        torch.manual_seed(7)
        b = build_model(kind, "small").state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_config_round_trips_through_a_plain_dict():
    for kind in model_kinds():
        model = build_model(kind, "small")
        rebuilt = model_from_config(kind, dataclasses.asdict(model.config))
        assert rebuilt.config == model.config
        assert count_parameters(rebuilt) == count_parameters(model)


def test_overrides_change_sizes():
    model = build_model("teacher", "small", d_model=32, layers=1, head_widths=[16])
    assert model.config.d_model == 32 and model.config.head_widths == (16,) and len(model.body.layers) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: build_model("gnn"),
        lambda: build_model("teacher", "huge"),
        lambda: build_model("teacher", d_model=100, heads=3),
        lambda: build_model("student", ff=0),
        lambda: build_model("teacher", head_widths=(64, -1)),
        lambda: build_model("teacher", layers=2.5),
        lambda: build_model("teacher", colour="red"),
        lambda: build_model("invariant", latent=0),
        lambda: build_model("invariant", pair_widths=()),
        lambda: build_model("dual", invariant=InvariantConfig(latent=128)),
        lambda: build_model("dual", transformer={"d_model": 256, "bogus": 1}),
        lambda: TransformerConfig(dropout=1.5),
        lambda: TransformerConfig(dropout="0.1"),
        lambda: TransformerConfig(jet_axis="beam"),
        lambda: build_model("teacher", jet_axis="rapidity-ish"),
        lambda: DualConfig(pt_scale_gev=-1.0),
    ],
)
def test_bad_sizes_raise_config_error(make):
    with pytest.raises(ConfigError):
        make()


def test_divisibility_error_message_names_both_sizes():
    with pytest.raises(ConfigError, match="d_model 100 must be divisible by heads 3"):
        TransformerConfig(d_model=100, heads=3)


def test_models_command_prints_every_kind_with_its_count(capsys):
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["models", "--preset", "paper"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for kind, count in [("teacher", "1,255,425"), ("student", "487,665")]:
        assert any(line.split()[:2] == [kind, count] for line in out.splitlines())
    assert all(any(line.startswith(kind) for line in out.splitlines()) for kind in model_kinds())


@dataclasses.dataclass(frozen=True)
class _LinearConfig:
    width: int = 4


class _LinearTagger(torch.nn.Module):
    """A model declared only here: the per-jet mean energy through one linear layer."""

    def __init__(self, config: _LinearConfig):
        super().__init__()
        self.config = config
        self.net = torch.nn.Sequential(torch.nn.Linear(1, config.width), torch.nn.ReLU(),
                                       torch.nn.Linear(config.width, 1))

    def forward(self, p4, mask):
        energy = (p4[..., 0] * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp_min(1)
        return self.net(torch.log1p(energy)).squeeze(-1)


@pytest.fixture
def linear_kind(monkeypatch):
    """The toy kind registered for one test and gone after it (the registry is a plain mapping)."""
    monkeypatch.setattr("raysym.models.kinds.REGISTRY", dict(REGISTRY))
    register_model("linear", _LinearConfig, _LinearTagger, {"paper": _LinearConfig(8), "small": _LinearConfig(2)},
                   lambda config: f"width {config.width}")
    return "linear"


def test_a_kind_registered_in_one_module_builds_lists_and_round_trips_with_no_other_change(linear_kind, capsys):
    assert linear_kind in model_kinds()
    model = build_model(linear_kind, "small", width=3)
    assert model.kind == linear_kind and count_parameters(model) == 3 + 3 + 3 + 1
    assert model_from_config(linear_kind, {"width": 3}).config == model.config
    p4 = torch.rand(2, 5, 4)
    assert model(p4, torch.ones(2, 5, dtype=torch.bool)).shape == (2,)
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["models", "--preset", "paper"])
    args.func(args)
    listed = capsys.readouterr().out.splitlines()
    assert any(line.split()[:2] == ["linear", "25"] and line.endswith("width 8") for line in listed)


def test_a_kind_given_twice_or_with_presets_of_another_type_is_refused(linear_kind):
    with pytest.raises(ConfigError, match="model kind 'linear' is registered twice"):
        register_model("linear", _LinearConfig, _LinearTagger, {}, str)
    with pytest.raises(ConfigError, match="preset\\(s\\) paper are not _LinearConfig"):
        register_model("other", _LinearConfig, _LinearTagger, {"paper": TransformerConfig()}, str)
    with pytest.raises(ConfigError, match=f"unknown model kind 'gnn'; choose one of {', '.join(model_kinds())}"):
        build_model("gnn")


def test_models_command_is_registered_in_the_cli():
    from raysym.cli import COMMAND_MODULES

    assert "raysym.models.command" in COMMAND_MODULES
