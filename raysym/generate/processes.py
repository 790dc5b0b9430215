"""Which Pythia 8 processes make each jet class, and how a chunk's seeds are derived (docs/methods.md §1.3).

One table, ``PROCESSES``, says for each hls4ml class (g, q, W, Z, top) which hard processes to switch
on, which decays to force (hadronic only, so the boson or top becomes one fat jet) and what truth object
a jet must be matched to. Everything else (beam energy, pT-hat cut, MPI switch, seeds) is shared and
built by ``pythia_settings``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from raysym.data.hls4ml_layout import CLASS_NAMES

#: Quark flavours a W or Z may decay to: d, u, s, c, b (hadronic decays only, docs/methods.md §1.3).
_HADRONIC = "24:onMode = off", "24:onIfAny = 1 2 3 4 5"
#: Light quarks (u, d, s): the hls4ml q class (docs/methods.md §1.3, "store the matched flavour").
LIGHT_QUARKS: frozenset[int] = frozenset({1, 2, 3})
#: Pythia's Random:seed accepts 0..900,000,000, and 0 means "seed from the clock": avoid it.
_MAX_PYTHIA_SEED = 900_000_000


@dataclass(frozen=True)
class ProcessSpec:
    """The Pythia switches for one class and the truth object its jets are matched to.

    ``truth_ids`` are the |PDG ids| of the hard-process outgoing particle a jet may be matched to
    (gluon 21; quarks 1-6; W 24; Z 23; top 6). ``decays`` says whether the matched particle decays to
    quarks that must lie inside the jet as well (W, Z, top: "contained decays").
    """

    name: str
    settings: tuple[str, ...]
    truth_ids: frozenset[int]
    decays: bool

    @property
    def label(self) -> int:
        """Index of the class in ``CLASS_NAMES`` (the one-hot label column order)."""
        return CLASS_NAMES.index(self.name)


PROCESSES: dict[str, ProcessSpec] = {
    "g": ProcessSpec("g", ("HardQCD:gg2gg = on", "HardQCD:qqbar2gg = on"), frozenset({21}), False),
    # qqbar2qqbarNew makes new flavours up to nQuarkNew; 3 keeps them light (u, d, s). qq2qq still
    # brings a few c and b from the proton; those are removed by flavour at matching time.
    "q": ProcessSpec("q", ("HardQCD:qq2qq = on", "HardQCD:qqbar2qqbarNew = on", "HardQCD:nQuarkNew = 3"),
                     frozenset({1, 2, 3, 4, 5}), False),
    "w": ProcessSpec("w", ("WeakDoubleBoson:ffbar2WW = on",) + _HADRONIC, frozenset({24}), True),
    # gmZmode = 2: pure Z exchange, no photon, so every boson is a Z that can decay to quarks.
    "z": ProcessSpec("z", ("WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off",
                           "23:onIfAny = 1 2 3 4 5"), frozenset({23}), True),
    "t": ProcessSpec("t", ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on") + _HADRONIC, frozenset({6}), True),
}


#: Pythia's pT-hat cut by default: low enough that the leading jets fill the 0.8-1.2 TeV window.
PTHAT_MIN_GEV = 900.0


def chunk_seeds(seed: int, class_name: str, chunk: int) -> tuple[int, int]:
    """The (Pythia seed, detector seed) of one chunk, from (seed, class, chunk) only.

    Never from the worker count or the order in which chunks run, so the output is identical however
    the work is spread (docs/methods.md §1.3). ``numpy.random.SeedSequence`` mixes the three numbers well, so
    neighbouring chunks get unrelated streams.
    """
    state = np.random.SeedSequence(seed, spawn_key=(CLASS_NAMES.index(class_name), chunk)).generate_state(2)
    return int(state[0]) % _MAX_PYTHIA_SEED + 1, int(state[1])


def pythia_settings(class_name: str, pythia_seed: int, mpi: bool = True, pthat_min: float = PTHAT_MIN_GEV,
                    ecm: float = 13000.0) -> list[str]:
    """All ``readString`` lines for one seeded Pythia instance that makes jets of ``class_name``.

    Quiet output, 13 TeV pp, the class's processes, a pT-hat cut that puts the jets near 1 TeV, MPI
    on unless switched off, and an explicit seed (Random:setSeed) so the same seed gives the same
    events in any process. Pythia's own multithreading is never used: it is not reproducible.
    """
    spec = PROCESSES[class_name]
    return [
        "Print:quiet = on",
        "Beams:idA = 2212", "Beams:idB = 2212", f"Beams:eCM = {ecm:g}",
        *spec.settings,
        f"PhaseSpace:pTHatMin = {pthat_min:g}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "Random:setSeed = on", f"Random:seed = {pythia_seed}",
    ]
