"""Jet taggers of raysym (docs/methods.md §4): teacher/student transformers, the dual-subnet model, the
hard-invariant baseline, and every other model module of this package. Every model is
``model(p4, mask) -> (B,) logits`` on (E, px, py, pz) in GeV.

Build them with :func:`build_model`; wrap second-order or forward-mode differentiation in
:func:`math_attention`.

A model module registers its kind when it is imported (:func:`raysym.models.kinds.register_model`), so
importing this package imports them all: the built-in ones first, in the order ``raysym models`` lists
them, then every other module of the package that is not infrastructure (:data:`INFRASTRUCTURE`), in
sorted order. A new kind is therefore one new module here, with no import to add. Ray workers import
raysym like any process, so they run this discovery too and know the same kinds.
"""

import importlib
import pkgutil

from raysym.models.attention import math_attention
# The model modules register their kinds on import; this order is the one they are listed in.
from raysym.models.transformer import JetTransformer, TransformerBody, TransformerConfig
from raysym.models.invariant import InvariantConfig, InvariantSubnet, InvariantTagger, pairwise_invariants, signed_log
from raysym.models.dual import DualConfig, DualSubnetTagger  # noqa: I001  (after the invariant subnet it uses)
from raysym.models.registry import (
    build_model,
    count_parameters,
    model_config,
    model_from_config,
    model_kinds,
    preset_names,
    register_model,
)

#: Modules of this package that define no model: the registry and its constructor, shared layers and
#: attention, the ``raysym models`` command and batched prediction.
INFRASTRUCTURE = frozenset({"kinds", "registry", "layers", "attention", "command", "predict"})
#: The built-in model modules, imported above in their listing order.
BUILT_IN = ("transformer", "invariant", "dual")


def model_modules() -> tuple[str, ...]:
    """The names of this package's model modules beyond the built-in ones, sorted (so the order in which
    ``raysym models`` lists their kinds does not depend on the file system)."""
    found = (info.name for info in pkgutil.iter_modules(__path__))
    return tuple(sorted(name for name in found
                        if not name.startswith("_") and name not in INFRASTRUCTURE and name not in BUILT_IN))


def _import_model_modules() -> None:
    for name in model_modules():
        importlib.import_module(f"{__name__}.{name}")


_import_model_modules()

__all__ = [
    "DualConfig", "DualSubnetTagger", "InvariantConfig", "InvariantSubnet",
    "InvariantTagger", "JetTransformer", "TransformerBody", "TransformerConfig", "build_model",
    "count_parameters", "math_attention", "model_config", "model_from_config", "model_kinds", "preset_names",
    "register_model",
    "pairwise_invariants", "signed_log",
]
