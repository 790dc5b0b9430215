"""Jet taggers of raysym (docs/methods.md §4): teacher/student transformers, the dual-subnet model, the
hard-invariant baseline. Every model is ``model(p4, mask) -> (B,) logits`` on (E, px, py, pz) in GeV.

Build them with :func:`build_model`; wrap second-order or forward-mode differentiation in
:func:`math_attention`.
"""

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

__all__ = [
    "DualConfig", "DualSubnetTagger", "InvariantConfig", "InvariantSubnet",
    "InvariantTagger", "JetTransformer", "TransformerBody", "TransformerConfig", "build_model",
    "count_parameters", "math_attention", "model_config", "model_from_config", "model_kinds", "preset_names",
    "register_model",
    "pairwise_invariants", "signed_log",
]
