"""Model kinds, size presets and the one constructor the rest of raysym calls (docs/methods.md §4).

``build_model(kind, preset)`` is the hook point for training, penalties and Hessians: every kind
follows ``model(p4, mask) -> (B,) logits``. A built model carries ``model.kind`` and ``model.config``
(a frozen dataclass); :func:`model_from_config` rebuilds a model from its kind and config (or the
config's ``dataclasses.asdict`` form). Training checkpoints store the run's settings instead and
rebuild through ``TrainConfig.build_model`` (:mod:`raysym.training.checkpoint`).

Presets:

- ``paper``: the Glowacki sizes. Teacher 1,255,425 parameters; student 487,665 (the paper's count,
  reached exactly with d_model 128, 4 heads, feed-forward 312, 3 layers, head 128-128-100 — see
  :mod:`raysym.models.transformer`); dual = the teacher's body plus an invariant subnet of latent 256 and
  the teacher's head; invariant = that subnet with the teacher's head.
- ``small``: a reduced family for quick CPU runs of a few minutes (d_model 64, 2 layers).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from raysym.errors import ConfigError
from raysym.models.dual import DualConfig, DualSubnetTagger
from raysym.models.invariant import InvariantConfig, InvariantTagger
from raysym.models.transformer import JetTransformer, TransformerConfig

MODEL_KINDS: tuple[str, ...] = ("teacher", "student", "dual", "invariant")

_PAPER_TEACHER = TransformerConfig(d_model=256, heads=4, ff=256, layers=3, head_widths=(128, 128, 128))
_PAPER_INVARIANT = InvariantConfig(
    pair_widths=(64, 64), node_widths=(128, 128), latent=256, latent_widths=(256,), head_widths=(128, 128, 128)
)
_SMALL_TEACHER = TransformerConfig(d_model=64, heads=4, ff=64, layers=2, head_widths=(64, 32))
_SMALL_INVARIANT = InvariantConfig(
    pair_widths=(32, 32), node_widths=(64, 64), latent=64, latent_widths=(64,), head_widths=(64, 32)
)

#: preset name → model kind → config. Model sizes only; training settings live elsewhere.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "teacher": _PAPER_TEACHER,
        "student": TransformerConfig(d_model=128, heads=4, ff=312, layers=3, head_widths=(128, 128, 100)),
        "dual": DualConfig(transformer=_PAPER_TEACHER, invariant=_PAPER_INVARIANT,
                           gate_widths=(16, 16), head_widths=(128, 128, 128)),
        "invariant": _PAPER_INVARIANT,
    },
    "small": {
        "teacher": _SMALL_TEACHER,
        "student": TransformerConfig(d_model=32, heads=4, ff=64, layers=2, head_widths=(32, 32)),
        "dual": DualConfig(transformer=_SMALL_TEACHER, invariant=_SMALL_INVARIANT,
                           gate_widths=(8, 8), head_widths=(64, 32)),
        "invariant": _SMALL_INVARIANT,
    },
}

_CONFIG_TYPES = {"teacher": TransformerConfig, "student": TransformerConfig,
                 "dual": DualConfig, "invariant": InvariantConfig}


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def model_config(kind: str, preset: str = "paper", **overrides: Any):
    """The config of ``kind`` in ``preset``, with fields replaced by ``overrides``.

    Override keys are the fields of that kind's config dataclass (for ``dual``: ``transformer``,
    ``invariant`` — whole sub-configs or dicts — ``gate_widths``, ``head_widths``, ``pt_scale_gev``).
    """
    _check_kind(kind)
    if preset not in PRESETS:
        raise ConfigError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = PRESETS[preset][kind]
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"unknown size(s) {', '.join(unknown)} for model kind {kind!r}; "
                          f"valid: {', '.join(sorted(fields))}")
    try:
        return dataclasses.replace(config, **overrides)
    except TypeError as err:  # e.g. a dict with unknown keys for a dual sub-config
        raise ConfigError(f"bad sizes for model kind {kind!r}: {err}") from err


def model_from_config(kind: str, config) -> nn.Module:
    """Build ``kind`` from a config dataclass or its dict form (as stored in a checkpoint)."""
    _check_kind(kind)
    cls = _CONFIG_TYPES[kind]
    if isinstance(config, dict):
        try:
            config = cls(**config)
        except TypeError as err:
            raise ConfigError(f"bad config for model kind {kind!r}: {err}") from err
    if not isinstance(config, cls):
        raise ConfigError(f"model kind {kind!r} needs a {cls.__name__}, got {type(config).__name__}")
    if kind in ("teacher", "student"):
        model: nn.Module = JetTransformer(config)
    elif kind == "dual":
        model = DualSubnetTagger(config)
    else:
        model = InvariantTagger(config)
    model.kind = kind
    return model


def build_model(kind: str, preset: str = "paper", **overrides: Any) -> nn.Module:
    """A freshly initialised model of ``kind`` (see :data:`MODEL_KINDS`) at ``preset`` sizes.

    Initialisation draws from torch's global generator: call ``torch.manual_seed`` first for a
    reproducible model.
    """
    return model_from_config(kind, model_config(kind, preset, **overrides))


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (all of them; every parameter of these models is trainable)."""
    return sum(p.numel() for p in model.parameters())
