"""The settings of one generation run, checked once, in one frozen object (docs/methods.md §1.3).

A run is ``jets_per_class`` jets of each class in ``classes``, split into chunks of ``chunk_size``
jets; everything that changes the jets (seed, chunking, MPI, detector, pT-hat cut, quark flavours) is
here, so the manifest written next to the files can tell whether a rerun may resume them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.errors import ConfigError, positive_int
from raysym.generate.detector import DetectorConfig
from raysym.generate.processes import PTHAT_MIN_GEV

#: Largest seed: Pythia seeds are derived from it with numpy's SeedSequence, which wants >= 0.
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. ``detector=None`` switches the parametric detector off."""

    jets_per_class: int
    seed: int = 0
    classes: tuple[str, ...] = CLASS_NAMES
    chunk_size: int = 1000
    mpi: bool = True
    detector: DetectorConfig | None = field(default_factory=DetectorConfig)
    pthat_min: float = PTHAT_MIN_GEV
    light_quarks_only: bool = True

    def __post_init__(self):
        if isinstance(self.classes, str):
            object.__setattr__(self, "classes", parse_classes(self.classes))
        positive_int("jets per class", self.jets_per_class)
        positive_int("chunk size", self.chunk_size)
        if not isinstance(self.seed, int) or not 0 <= self.seed <= _MAX_SEED:
            raise ConfigError(f"seed must be an integer in 0..2^63-1, got {self.seed!r}")
        if not self.classes:
            raise ConfigError("no jet classes given; choose from g,q,w,z,t")
        unknown = [c for c in self.classes if c not in CLASS_NAMES]
        if unknown:
            raise ConfigError(f"unknown jet class {unknown[0]!r}; choose from {','.join(CLASS_NAMES)}")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"jet classes given twice: {','.join(self.classes)}")
        if not (math.isfinite(self.pthat_min) and 0 < self.pthat_min < 6500):
            raise ConfigError(f"pTHatMin must be between 0 and 6500 GeV, got {self.pthat_min}")

    def n_chunks(self) -> int:
        """Chunks per class; the last may be shorter."""
        return -(-self.jets_per_class // self.chunk_size)

    def chunk_jets(self, chunk: int) -> int:
        """Jets in chunk number ``chunk`` (0-based)."""
        return min(self.chunk_size, self.jets_per_class - chunk * self.chunk_size)

    def manifest(self) -> dict:
        """Everything that changes a chunk's file, as JSON-ready values (the class list does not)."""
        out = dataclasses.asdict(self)
        out.pop("classes")
        return out


def parse_classes(text: str) -> tuple[str, ...]:
    """``"g,q,w"`` → ``("g", "q", "w")``; letters are case-insensitive ("W" is "w")."""
    return tuple(part.strip().lower() for part in text.split(",") if part.strip())
