"""A parametric detector: what breaks exact Lorentz symmetry in the jets, as a real detector does.

docs/methods.md §1.3: charged particles inside the tracker (|η| < 2.5) become tracks with σ(pT)/pT =
5·10⁻⁴·pT ⊕ 1 %; photons (and electrons outside the tracker) deposit in an electromagnetic calorimeter
with σ(E)/E = 5 %/√E ⊕ 1 %; neutral hadrons (and charged hadrons outside the tracker) deposit in a
hadronic calorimeter with σ(E)/E = 100 %/√E ⊕ 5 %. Calorimeter deposits are summed in η–φ towers of
0.0174 × 0.0174 and each tower points at its cell centre, massless (the angular granularity). Tracks and
towers below 1 GeV are dropped. Every number is a field of ``DetectorConfig``.

Works on flat arrays of a whole batch of events at once (an event index per particle), in numpy, with
an explicit random generator: pure and reproducible, no Pythia, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raysym.errors import ConfigError
from raysym.numpy_kinematics import pt_eta_phi

_MUON = 13


@dataclass(frozen=True)
class DetectorConfig:
    """Knobs of the parametric detector (docs/methods.md §1.3 defaults). Energies and momenta in GeV."""

    tracker_eta_max: float = 2.5
    #: Track resolution σ(pT)/pT = track_res_pt·pT ⊕ track_res_const.
    track_res_pt: float = 5e-4
    track_res_const: float = 0.01
    calo_eta_max: float = 5.0
    #: Photon (ECAL) resolution σ(E)/E = ecal_res_stochastic/√E ⊕ ecal_res_const.
    ecal_res_stochastic: float = 0.05
    ecal_res_const: float = 0.01
    #: Neutral-hadron (HCAL) resolution σ(E)/E = hcal_res_stochastic/√E ⊕ hcal_res_const.
    hcal_res_stochastic: float = 1.0
    hcal_res_const: float = 0.05
    #: Tower size in η and (approximately, to fit 2π a whole number of times) in φ.
    tower_size: float = 0.0174
    track_pt_min: float = 1.0
    tower_pt_min: float = 1.0

    def __post_init__(self):
        for name, value in vars(self).items():
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"detector setting {name} must be a finite number >= 0, got {value}")
        for name in ("tracker_eta_max", "calo_eta_max", "tower_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"detector setting {name} must be > 0, got {getattr(self, name)}")

    @property
    def n_phi_towers(self) -> int:
        """Towers around φ: the whole number closest to 2π / tower_size."""
        return max(1, round(2 * math.pi / self.tower_size))


@dataclass(frozen=True)
class Particles:
    """Flat four-momenta of a batch of events: ``event`` (int) says which event each row belongs to.

    Rows of one event are contiguous and events appear in increasing order; ``n_events`` counts
    events including empty ones.
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    event: np.ndarray
    n_events: int

    def counts(self) -> np.ndarray:
        """Particles per event, shape (n_events,)."""
        return np.bincount(self.event, minlength=self.n_events)


def smear_tracks(pt: np.ndarray, config: DetectorConfig, rng: np.random.Generator) -> np.ndarray:
    """Smeared track pT: pT·(1 + σ·z), σ = res_pt·pT ⊕ res_const, clipped at 0."""
    sigma = np.hypot(config.track_res_pt * pt, config.track_res_const)
    return np.clip(pt * (1 + sigma * rng.standard_normal(pt.shape)), 0, None)


def smear_energy(e: np.ndarray, stochastic: float, constant: float, rng: np.random.Generator) -> np.ndarray:
    """Smeared calorimeter energy E + σ_E·z with σ_E = stochastic·√E ⊕ constant·E, clipped at 0.

    Written with σ_E (not σ_E/E) so an energy of 0 gives 0, not a division by zero.
    """
    e = np.clip(e, 0, None)
    sigma = np.sqrt(stochastic**2 * e + (constant * e) ** 2)
    return np.clip(e + sigma * rng.standard_normal(e.shape), 0, None)


def apply_detector(particles: Particles, charge: np.ndarray, pdg_id: np.ndarray, config: DetectorConfig,
                   rng: np.random.Generator) -> Particles:
    """Visible particles → detector objects (tracks, then towers, per event), docs/methods.md §1.3.

    ``charge`` and ``pdg_id`` are per particle. Neutrinos must already be removed. Muons outside the
    tracker leave nothing (they cross the calorimeters). Tracks keep the particle's direction and mass
    with a smeared pT; towers are massless and point at the cell centre.
    """
    px, py, pz, e, event = particles.px, particles.py, particles.pz, particles.e, particles.event
    pt, eta, phi = pt_eta_phi(px, py, pz)
    charged = charge != 0
    is_track = charged & (np.abs(eta) < config.tracker_eta_max)
    abs_id = np.abs(pdg_id)
    in_calo = ~is_track & (np.abs(eta) < config.calo_eta_max) & (abs_id != _MUON)
    electromagnetic = in_calo & ((abs_id == 22) | (abs_id == 11))
    hadronic = in_calo & ~electromagnetic

    # Tracks: scale the 3-momentum by the smeared/true pT ratio, keep the mass.
    t_pt = pt[is_track]
    scale = np.divide(smear_tracks(t_pt, config, rng), t_pt, out=np.zeros_like(t_pt), where=t_pt > 0)
    t_px, t_py, t_pz = px[is_track] * scale, py[is_track] * scale, pz[is_track] * scale
    mass2 = np.clip(e[is_track] ** 2 - (px[is_track] ** 2 + py[is_track] ** 2 + pz[is_track] ** 2), 0, None)
    t_e = np.sqrt(t_px**2 + t_py**2 + t_pz**2 + mass2)
    keep = t_pt * scale > config.track_pt_min
    tracks = (t_px[keep], t_py[keep], t_pz[keep], t_e[keep], event[is_track][keep])

    # Towers: sum ECAL and HCAL energy per (event, η cell, φ cell), smear each sum, point at the centre.
    n_phi = config.n_phi_towers
    n_eta = 2 * math.ceil(config.calo_eta_max / config.tower_size) + 2
    ieta = np.floor(eta[in_calo] / config.tower_size).astype(np.int64) + n_eta // 2
    iphi = np.floor((phi[in_calo] + np.pi) / (2 * np.pi) * n_phi).astype(np.int64) % n_phi
    key = (event[in_calo].astype(np.int64) * n_eta + ieta) * n_phi + iphi
    cells, inverse = np.unique(key, return_inverse=True)
    e_em = np.bincount(inverse, weights=np.where(electromagnetic, e, 0.0)[in_calo], minlength=len(cells))
    e_had = np.bincount(inverse, weights=np.where(hadronic, e, 0.0)[in_calo], minlength=len(cells))
    tower_e = (smear_energy(e_em, config.ecal_res_stochastic, config.ecal_res_const, rng)
               + smear_energy(e_had, config.hcal_res_stochastic, config.hcal_res_const, rng))
    c_eta = ((cells // n_phi) % n_eta - n_eta // 2 + 0.5) * config.tower_size
    c_phi = -np.pi + ((cells % n_phi) + 0.5) * (2 * np.pi / n_phi)
    c_pt = tower_e / np.cosh(c_eta)
    keep = c_pt > config.tower_pt_min
    towers = (c_pt[keep] * np.cos(c_phi[keep]), c_pt[keep] * np.sin(c_phi[keep]),
              c_pt[keep] * np.sinh(c_eta[keep]), tower_e[keep], cells[keep] // (n_eta * n_phi))

    # Per event: its tracks, then its towers (a stable sort keeps that order within each event).
    merged = [np.concatenate([a, b]) for a, b in zip(tracks, towers)]
    order = np.argsort(merged[4], kind="stable")
    return Particles(*(a[order] for a in merged[:4]), merged[4][order].astype(np.int64), particles.n_events)
