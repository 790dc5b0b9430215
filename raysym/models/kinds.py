"""The model kinds raysym knows, registered by the modules that define them (docs/methods.md §4).

A kind is one declaration: its config dataclass, the module built from a config, its sizes per named preset,
and a one-line summary of a config's sizes (what ``raysym models`` prints). Everything that needs a model
(training, penalties, Hessians, ``raysym models``, the model tests) reads this registry, so adding a model
is one module in :mod:`raysym.models` that calls :func:`register_model` (the package imports every model
module it holds), with no list of kinds to extend anywhere else.

This module imports no model, so every model module can register itself here without an import circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from torch import nn

from raysym.errors import ConfigError


@dataclass(frozen=True)
class ModelKind:
    """One registered kind of model: ``build(config)`` gives the module; ``presets`` maps preset names to
    configs of type ``config_type``; ``describe(config)`` is a one-line summary of its sizes."""

    name: str
    config_type: type
    build: Callable[[Any], nn.Module]
    presets: Mapping[str, Any]
    describe: Callable[[Any], str]


#: name → kind, in registration order (the order ``raysym models`` lists them).
REGISTRY: dict[str, ModelKind] = {}


def register_model(name: str, config_type: type, build: Callable[[Any], nn.Module], presets: Mapping[str, Any],
                   describe: Callable[[Any], str]) -> ModelKind:
    """Declare a kind of model. Its presets must be instances of ``config_type``; a name given twice is an
    error (two modules claiming one kind would make which one builds it an accident of import order)."""
    if name in REGISTRY:
        raise ConfigError(f"model kind {name!r} is registered twice")
    wrong = sorted(preset for preset, config in presets.items() if not isinstance(config, config_type))
    if wrong:
        raise ConfigError(f"model kind {name!r}: preset(s) {', '.join(wrong)} are not {config_type.__name__}")
    kind = ModelKind(name, config_type, build, dict(presets), describe)
    REGISTRY[name] = kind
    return kind


def model_kinds() -> tuple[str, ...]:
    """Every registered kind's name, in registration order."""
    return tuple(REGISTRY)


def preset_names() -> tuple[str, ...]:
    """Every preset name some registered kind has, sorted."""
    return tuple(sorted({preset for kind in REGISTRY.values() for preset in kind.presets}))


def kind_of(name: str) -> ModelKind:
    """The registered kind ``name``, or a ``ConfigError`` listing the registered ones."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown model kind {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def widths(values) -> str:
    """Layer widths as ``a-b-c`` (for the one-line summaries)."""
    return "-".join(map(str, values))
