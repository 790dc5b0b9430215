"""The one constructor the rest of raysym calls, over the registered model kinds (docs/methods.md §4).

Every kind is declared by the module that defines it (:func:`raysym.models.kinds.register_model`), and
``raysym/models/__init__.py`` imports those modules, in the order ``raysym models`` lists them, before this
one: whatever imports this module has every kind registered. ``build_model(kind, preset)`` is the hook
point for training, penalties and Hessians: every kind follows ``model(p4, mask) -> (B,) logits``. A built
model carries ``model.kind`` and ``model.config`` (a frozen dataclass); :func:`model_from_config` rebuilds a
model from its kind and config (or the config's ``dataclasses.asdict`` form). Training checkpoints store the
run's settings instead and rebuild through ``TrainConfig.build_model`` (:mod:`raysym.training.checkpoint`).

Presets of the built-in kinds:

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
from raysym.models.kinds import kind_of, model_kinds, preset_names, register_model

__all__ = ["build_model", "count_parameters", "model_config", "model_from_config", "model_kinds", "preset_names",
           "register_model"]


def model_config(kind: str, preset: str = "paper", **overrides: Any):
    """The config of ``kind`` in ``preset``, with fields replaced by ``overrides``.

    Override keys are the fields of that kind's config dataclass (for ``dual``: ``transformer``,
    ``invariant`` — whole sub-configs or dicts — ``gate_widths``, ``head_widths``, ``pt_scale_gev``).
    """
    registered = kind_of(kind)
    if preset not in registered.presets:
        raise ConfigError(f"unknown model preset {preset!r} for model kind {kind!r}; choose one of "
                          f"{', '.join(registered.presets)}")
    config = registered.presets[preset]
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
    registered = kind_of(kind)
    cls = registered.config_type
    if isinstance(config, dict):
        try:
            config = cls(**config)
        except TypeError as err:
            raise ConfigError(f"bad config for model kind {kind!r}: {err}") from err
    if not isinstance(config, cls):
        raise ConfigError(f"model kind {kind!r} needs a {cls.__name__}, got {type(config).__name__}")
    model = registered.build(config)
    model.kind = kind
    return model


def build_model(kind: str, preset: str = "paper", **overrides: Any) -> nn.Module:
    """A freshly initialised model of ``kind`` (one of :func:`model_kinds`) at ``preset`` sizes.

    Initialisation draws from torch's global generator: call ``torch.manual_seed`` first for a
    reproducible model.
    """
    return model_from_config(kind, model_config(kind, preset, **overrides))


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (all of them; every parameter of these models is trainable)."""
    return sum(p.numel() for p in model.parameters())
