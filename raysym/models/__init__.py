"""Jet taggers of raysym (docs/methods.md §4): teacher/student transformers, the dual-subnet model, the
hard-invariant baseline. Every model is ``model(p4, mask) -> (B,) logits`` on (E, px, py, pz) in GeV.

Build them with :func:`build_model`; wrap second-order or forward-mode differentiation in
:func:`math_attention`.
"""

from raysym.models.attention import math_attention
from raysym.models.dual import DualConfig, DualSubnetTagger
from raysym.models.invariant import InvariantConfig, InvariantSubnet, InvariantTagger, pairwise_invariants, signed_log
from raysym.models.registry import (
    MODEL_KINDS,
    PRESETS,
    build_model,
    count_parameters,
    model_config,
    model_from_config,
)
from raysym.models.transformer import JetTransformer, TransformerBody, TransformerConfig

__all__ = [
    "MODEL_KINDS", "PRESETS", "DualConfig", "DualSubnetTagger", "InvariantConfig", "InvariantSubnet",
    "InvariantTagger", "JetTransformer", "TransformerBody", "TransformerConfig", "build_model",
    "count_parameters", "math_attention", "model_config", "model_from_config",
    "pairwise_invariants", "signed_log",
]
