"""Offline jet generator: Pythia 8 + FastJet + a parametric detector → hls4ml-layout files (docs/methods.md §1.3).

``processes`` (per-class Pythia settings and seeds), ``detector`` (the parametric detector),
``events`` (events → truth-matched jets), ``config`` (one run's settings), ``chunks`` (chunk files,
the run's manifest, one fan-out task per chunk), ``command`` (``raysym generate``).
"""

from raysym.generate.chunks import generate, generate_chunk
from raysym.generate.config import GeneratorConfig
from raysym.generate.detector import DetectorConfig
from raysym.generate.events import JetSample, make_jets

__all__ = ["DetectorConfig", "GeneratorConfig", "JetSample", "generate", "generate_chunk", "make_jets"]
