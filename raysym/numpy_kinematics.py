"""(pT, η, φ) and angular distances on numpy arrays, for the code that works on files and events
(the hls4ml writer, the generator's detector and truth matching) rather than on torch tensors."""

from __future__ import annotations

import numpy as np


def pt_eta_phi(px, py, pz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pT, η = asinh(pz/pT) (0 where pT = 0, e.g. padding) and φ = atan2(py, px)."""
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    return pt, eta, np.arctan2(py, px)


def wrap_phi(dphi) -> np.ndarray:
    """An azimuthal difference wrapped into (−π, π], as ``raysym.features.wrap_phi`` does for tensors."""
    return dphi - 2 * np.pi * np.ceil((dphi - np.pi) / (2 * np.pi))


def delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    """ΔR = sqrt(Δη² + Δφ²) with Δφ wrapped."""
    return np.hypot(eta1 - eta2, wrap_phi(phi1 - phi2))
