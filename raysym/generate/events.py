"""Pythia events → visible particles → (detector) → anti-kT jets → truth-matched jets (docs/methods.md §1.1, §1.3).

``JetMaker`` owns one seeded Pythia instance for one class and turns batches of events into jets with
their constituents; ``make_jets`` is the one-call form the chunk writer and the tests use. Everything
is vectorised over a batch of events (flat numpy arrays with an event index): Pythia's ``nextBatch``
gives awkward arrays and FastJet's batch interface clusters a whole batch in one call, about 4x faster
than a loop over ``PseudoJet`` (docs/methods.md §1.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import awkward as ak
import numpy as np

from raysym.errors import DataError
from raysym.generate.detector import DetectorConfig, Particles, apply_detector
from raysym.generate.processes import LIGHT_QUARKS, PROCESSES, PTHAT_MIN_GEV, pythia_settings
from raysym.numpy_kinematics import delta_r, pt_eta_phi

#: Jet definition and acceptance (docs/methods.md §1.1): anti-kT R = 0.8, 0.8 < pT/TeV < 1.2, |η| < 2.
JET_R = 0.8
JET_PT_MIN, JET_PT_MAX, JET_ETA_MAX = 800.0, 1200.0, 2.0
#: A jet is matched when the truth particle (and its decay quarks) lie within this ΔR of its axis.
MATCH_DR = 0.8
_NEUTRINOS = (12, 14, 16)
#: Rows of the hard-process outgoing pair in every Pythia event record (0 system, 1-2 beams, 3-4 in).
_HARD_OUT_ROWS = (5, 6)
#: Decay quarks per truth particle at most (top: b plus the W's two quarks).
_MAX_DECAY_QUARKS = 3


@dataclass(frozen=True)
class JetSample:
    """Jets of one class: constituents and jet-level truth, in generation order.

    ``constituents`` holds one (n_i, 4) array per jet, px py pz e, sorted by descending pT;
    ``jet_p4`` (N, 4) is the clustered jet (the sum of all its constituents, E-scheme), px py pz e;
    ``multiplicity`` (N,) counts all constituents; ``truth_pdg_id`` (N,) is the signed PDG id of the
    matched parton, boson or top. ``n_events`` counts the Pythia events used.
    """

    constituents: list[np.ndarray]
    jet_p4: np.ndarray
    multiplicity: np.ndarray
    truth_pdg_id: np.ndarray
    n_events: int

    def __len__(self) -> int:
        return len(self.constituents)

    def padded(self, n_constituents: int) -> np.ndarray:
        """Constituents as one (N, n_constituents, 4) array: the leading ones, zero-padded."""
        out = np.zeros((len(self), n_constituents, 4))
        for i, c in enumerate(self.constituents):
            k = min(len(c), n_constituents)
            out[i, :k] = c[:k]
        return out

    def head(self, n: int) -> JetSample:
        """The first ``n`` jets."""
        return JetSample(self.constituents[:n], self.jet_p4[:n], self.multiplicity[:n],
                         self.truth_pdg_id[:n], self.n_events)

    @staticmethod
    def concatenate(samples: list[JetSample]) -> JetSample:
        return JetSample(
            [c for s in samples for c in s.constituents],
            np.concatenate([s.jet_p4 for s in samples]).reshape(-1, 4),
            np.concatenate([s.multiplicity for s in samples]).astype(np.int64),
            np.concatenate([s.truth_pdg_id for s in samples]).astype(np.int64),
            sum(s.n_events for s in samples),
        )


class _Record:
    """A batch of Pythia event records as flat numpy columns (global row = offset[event] + row)."""

    def __init__(self, batch: ak.Array):
        prt = batch["prt"]
        self.counts = ak.to_numpy(ak.num(prt)).astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        flat = ak.flatten(prt)
        integer = lambda name: ak.to_numpy(flat[name]).astype(np.int64)  # noqa: E731
        self.id, self.status = integer("id"), integer("status")
        self.daughter1, self.daughter2 = integer("daughter1"), integer("daughter2")
        self.px, self.py, self.pz, self.e = (ak.to_numpy(flat["p", c]).astype(np.float64)
                                             for c in ("px", "py", "pz", "e"))
        self.event = np.repeat(np.arange(len(self.counts)), self.counts)

    def last_copy(self, rows: np.ndarray) -> np.ndarray:
        """Follow each particle to its last copy, the one that decays.

        A copy is a daughter with the same PDG id: a carbon copy after a recoil (daughter1 ==
        daughter2) or the radiator after a shower branching such as t → t g or W → W γ.
        """
        rows = rows.copy()
        for _ in range(500):
            off = self.offsets[self.event[rows]]
            d1, d2 = self.daughter1[rows], self.daughter2[rows]
            last = len(self.id) - 1
            first = np.minimum(off + d1, last)
            second = np.minimum(off + np.maximum(d2, d1), last)
            same_first = (d1 > 0) & (self.id[first] == self.id[rows])
            same_second = (d1 > 0) & (self.id[second] == self.id[rows])
            if not (same_first | same_second).any():
                return rows
            rows = np.where(same_first, first, np.where(same_second, second, rows))
        return rows

    def daughters(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global rows of the two decay products of each (two-body decaying) particle."""
        off = self.offsets[self.event[rows]]
        return off + self.daughter1[rows], off + np.maximum(self.daughter2[rows], self.daughter1[rows])


def truth_objects(record: _Record, decays: bool):
    """Truth particles of every event: the hard-process outgoing pair and, if they decay, their quarks.

    Returns (pdg (E, 2), eta (E, 2), phi (E, 2), quark_eta (E, 2, 3), quark_phi (E, 2, 3)) with NaN for
    missing decay quarks. Partons are taken as they leave the hard process; a boson or top at its last
    copy (after initial-state recoil), its decay quarks as they are produced. A top's quarks are its b
    and its W's two quarks.
    """
    n_events = len(record.counts)
    rows = record.offsets[:, None] + np.array(_HARD_OUT_ROWS)[None, :]
    pdg = record.id[rows]
    q_eta = np.full((n_events, 2, _MAX_DECAY_QUARKS), np.nan)
    q_phi = np.full_like(q_eta, np.nan)
    if decays:
        rows = record.last_copy(rows.ravel()).reshape(n_events, 2)
        d1, d2 = record.daughters(rows.ravel())
        w_first = np.abs(record.id[d1]) == 24
        w_in_pair = w_first | (np.abs(record.id[d2]) == 24)
        quarks = [d1, d2]
        if w_in_pair.any():  # top → W b: replace the W by its two quarks, keep the b
            w_rows = record.last_copy(np.where(w_first, d1, d2))
            b_rows = np.where(w_first, d2, d1)
            w1, w2 = record.daughters(w_rows)
            quarks = [np.where(w_in_pair, b_rows, d1), np.where(w_in_pair, w1, d2), w2]
        for k, q in enumerate(quarks):
            _, eta, phi = pt_eta_phi(record.px[q], record.py[q], record.pz[q])
            valid = (k < 2) | w_in_pair
            q_eta[..., k] = np.where(valid, eta, np.nan).reshape(n_events, 2)
            q_phi[..., k] = np.where(valid, phi, np.nan).reshape(n_events, 2)
    _, eta, phi = pt_eta_phi(record.px[rows], record.py[rows], record.pz[rows])
    return pdg, eta, phi, q_eta, q_phi


def visible_particles(record: _Record) -> tuple[Particles, np.ndarray]:
    """Final-state particles a detector can see: status > 0 and not a neutrino (docs/methods.md §1.3).

    Returns the particles and their PDG ids.
    """
    keep = (record.status > 0) & ~np.isin(np.abs(record.id), _NEUTRINOS)
    return (Particles(record.px[keep], record.py[keep], record.pz[keep], record.e[keep], record.event[keep],
                      len(record.counts)), record.id[keep])


def cluster(particles: Particles, jet_pt_min: float = JET_PT_MIN):
    """Anti-kT R = 0.8 jets above ``jet_pt_min`` of every event, with FastJet's batch interface.

    Returns (jet_event (J,), constituent_rows: list of J arrays of global rows into ``particles``).
    FastJet returns jets in no particular order; the caller sorts.
    """
    import fastjet

    counts = particles.counts()
    events = ak.unflatten(ak.zip({"px": particles.px, "py": particles.py, "pz": particles.pz,
                                  "E": particles.e}), counts)
    sequence = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R))
    index = sequence.constituent_index(jet_pt_min)
    jets_per_event = ak.to_numpy(ak.num(index, axis=1)).astype(np.int64)
    per_jet = ak.flatten(index, axis=1)
    sizes = ak.to_numpy(ak.num(per_jet, axis=1)).astype(np.int64)
    jet_event = np.repeat(np.arange(len(counts)), jets_per_event)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = ak.to_numpy(ak.flatten(per_jet)).astype(np.int64) + np.repeat(offsets[jet_event], sizes)
    return jet_event, np.split(rows, np.cumsum(sizes)[:-1]) if len(sizes) else []


def match_jets(jet_p4, jet_event, truth, decays: bool, allowed_ids: frozenset[int] | None):
    """Indices of the jets that are truth-matched with contained decays, and their truth PDG ids.

    A jet is kept when its nearest truth particle lies within ΔR < 0.8, all of that particle's decay
    quarks do too, and (if given) |PDG id| is in ``allowed_ids``. A truth particle keeps at most one
    jet, the closest. The kept jets come back in event order, highest pT first within an event.
    """
    pdg, eta, phi, q_eta, q_phi = truth
    pt, j_eta, j_phi = pt_eta_phi(jet_p4[:, 0], jet_p4[:, 1], jet_p4[:, 2])
    dr = delta_r(j_eta[:, None], j_phi[:, None], eta[jet_event], phi[jet_event])
    slot = np.argmin(dr, axis=1)
    jets = np.arange(len(jet_event))
    best = dr[jets, slot]
    ok = best < MATCH_DR
    if decays:
        qe, qp = q_eta[jet_event, slot], q_phi[jet_event, slot]
        qdr = delta_r(j_eta[:, None], j_phi[:, None], qe, qp)
        ok &= np.all(np.isnan(qe) | (qdr < MATCH_DR), axis=1)
    ids = pdg[jet_event, slot]
    if allowed_ids is not None:
        ok &= np.isin(np.abs(ids), list(allowed_ids))
    # One jet per truth particle: the closest.
    kept = jets[ok][np.argsort(best[ok], kind="stable")]
    _, first = np.unique(jet_event[kept] * 2 + slot[kept], return_index=True)
    kept = kept[first]
    kept = kept[np.lexsort((-pt[kept], jet_event[kept]))]
    return kept, ids[kept]


class JetMaker:
    """One seeded Pythia instance that makes truth-matched jets of one class (docs/methods.md §1.3).

    ``detector=None`` switches the detector off (jets of visible particles). ``light_quarks_only``
    keeps only u, d, s jets in the q class, like the hls4ml q class.
    """

    def __init__(self, class_name: str, pythia_seed: int, detector_seed: int, *, mpi: bool = True,
                 detector: DetectorConfig | None = DetectorConfig(), pthat_min: float = PTHAT_MIN_GEV,
                 light_quarks_only: bool = True):
        import pythia8mc

        self.spec = PROCESSES[class_name]
        self.detector = detector
        self.allowed_ids = LIGHT_QUARKS if (class_name == "q" and light_quarks_only) else self.spec.truth_ids
        self.rng = np.random.default_rng(detector_seed)
        self.pythia = pythia8mc.Pythia("", False)
        for line in pythia_settings(class_name, pythia_seed, mpi=mpi, pthat_min=pthat_min):
            if not self.pythia.readString(line):
                raise DataError(f"Pythia rejected the setting {line!r}")
        if not self.pythia.init():
            raise DataError(f"Pythia failed to initialise for class {class_name!r}")
        self._charge: dict[int, float] = {}

    def _charges(self, ids: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(ids, return_inverse=True)
        for i in unique.tolist():
            if i not in self._charge:
                self._charge[i] = self.pythia.particleData.charge(i)
        return np.array([self._charge[i] for i in unique.tolist()])[inverse]

    def next_jets(self, n_events: int) -> JetSample:
        """Generate ``n_events`` events and return the jets they give (about 1.2-1.5 per event)."""
        record = _Record(self.pythia.nextBatch(n_events))
        particles, ids = visible_particles(record)
        if self.detector is not None:
            particles = apply_detector(particles, self._charges(ids), ids, self.detector, self.rng)
        jet_event, rows = cluster(particles)
        p4 = np.stack([particles.px, particles.py, particles.pz, particles.e], axis=1)
        jet_p4 = np.array([p4[r].sum(0) for r in rows]).reshape(-1, 4)
        truth = truth_objects(record, self.spec.decays)
        in_window = np.hypot(jet_p4[:, 0], jet_p4[:, 1])
        in_window = (in_window > JET_PT_MIN) & (in_window < JET_PT_MAX)
        in_window &= np.abs(pt_eta_phi(jet_p4[:, 0], jet_p4[:, 1], jet_p4[:, 2])[1]) < JET_ETA_MAX
        candidates = np.flatnonzero(in_window)
        kept, pdg = match_jets(jet_p4[candidates], jet_event[candidates], truth, self.spec.decays,
                               self.allowed_ids)
        kept = candidates[kept]
        constituents = []
        for j in kept:
            c = p4[rows[j]]
            constituents.append(c[np.argsort(-np.hypot(c[:, 0], c[:, 1]), kind="stable")])
        return JetSample(constituents, jet_p4[kept], np.array([len(rows[j]) for j in kept], dtype=np.int64),
                         pdg.astype(np.int64), n_events)


def make_jets(class_name: str, n_jets: int, pythia_seed: int, detector_seed: int, *, mpi: bool = True,
              detector: DetectorConfig | None = DetectorConfig(), pthat_min: float = PTHAT_MIN_GEV,
              light_quarks_only: bool = True, batch_events: int = 200) -> JetSample:
    """Exactly ``n_jets`` truth-matched jets of ``class_name`` from one freshly seeded Pythia.

    Events come in batches of at most ``batch_events``; the first ``n_jets`` jets in generation order
    are returned, so the result depends only on the seeds and settings. Raises ``DataError`` when the
    settings give (almost) no jets, instead of looping for ever.
    """
    maker = JetMaker(class_name, pythia_seed, detector_seed, mpi=mpi, detector=detector,
                     pthat_min=pthat_min, light_quarks_only=light_quarks_only)
    samples, found, events = [], 0, 0
    max_events = 100 * n_jets + 2000
    while found < n_jets:
        if events >= max_events:
            raise DataError(f"only {found} {class_name} jets in {events} events: the settings (pTHatMin "
                            f"{pthat_min:g}) give almost no jets with 0.8 < pT/TeV < 1.2")
        # Ask for just enough events at the yield seen so far (about 1.2-1.6 jets per event; start
        # low), so few events are wasted past the last jet. Depends only on earlier events: reproducible.
        per_event = found / events if found else 1.2
        n = int(min(batch_events, max(10, math.ceil(1.05 * (n_jets - found) / per_event))))
        sample = maker.next_jets(n)
        samples.append(sample)
        found += len(sample)
        events += n
    return JetSample.concatenate(samples).head(n_jets)
