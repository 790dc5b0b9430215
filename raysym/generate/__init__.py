"""Offline jet generator: Pythia 8 + FastJet + a parametric detector → hls4ml-layout files (SPEC §1.3).

``processes`` (per-class Pythia settings and seeds), ``detector`` (the parametric detector),
``events`` (events → truth-matched jets), ``config`` (one run's settings), ``fanout`` (chunks, files,
Ray tasks), ``command`` (``raysym generate``).
"""

from raysym.generate.config import GeneratorConfig
from raysym.generate.detector import DetectorConfig
from raysym.generate.events import JetSample, make_jets
from raysym.generate.fanout import generate, generate_chunk

__all__ = ["DetectorConfig", "GeneratorConfig", "JetSample", "generate", "generate_chunk", "make_jets"]
