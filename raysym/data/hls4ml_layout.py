"""The hls4ml LHC jet file layout (docs/methods.md §1.2), in one place: names, column positions and a writer.

The reader checks files against these names; the offline generator and the tests write files through
``write_hls4ml_file`` so that one reader serves real and generated jets alike.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from raysym.numpy_kinematics import pt_eta_phi, wrap_phi

#: Jet classes in label order; the one-hot label columns of ``jets`` follow the same order.
CLASS_NAMES: tuple[str, ...] = ("g", "q", "w", "z", "t")

#: The 17 names stored in ``particleFeatureNames``; the last (j1_pdgid) has no data column.
PARTICLE_FEATURE_NAMES: tuple[str, ...] = (
    "j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta", "j1_etarel",
    "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR", "j1_costheta", "j1_costhetarel",
    "j1_pdgid",
)
#: The four-momentum columns of ``jetConstituentList``, in file order (px, py, pz, e).
MOMENTUM_COLUMNS: tuple[str, ...] = ("j1_px", "j1_py", "j1_pz", "j1_e")

_SUBSTRUCTURE = [f"j_tau{i}_b{b}" for b in (1, 2) for i in (1, 2, 3)] + ["j_tau32_b1", "j_tau32_b2"]
_SUBSTRUCTURE += ["j_zlogz", "j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2", "j_d2_b1", "j_d2_b2",
                  "j_d2_a1_b1", "j_d2_a1_b2", "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2"]
_GROOMED = [f"{name}_mmdt" for name in _SUBSTRUCTURE if name != "j_zlogz"]
#: The 59 names stored in ``jetFeatureNames`` (columns of ``jets``).
JET_FEATURE_NAMES: tuple[str, ...] = tuple(
    ["j_ptfrac", "j_pt", "j_eta", "j_mass"] + _SUBSTRUCTURE + _GROOMED
    + ["j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1", "j_multiplicity"]
    + [f"j_{c}" for c in CLASS_NAMES] + ["j_undef"]
)
LABEL_COLUMNS: tuple[str, ...] = tuple(f"j_{c}" for c in CLASS_NAMES)
N_JET_COLUMNS = 59
#: Constituents per jet in the public files (the "150p" version).
N_STORED_CONSTITUENTS = 150

assert len(JET_FEATURE_NAMES) == N_JET_COLUMNS
assert JET_FEATURE_NAMES.index("j_g") == 53 and JET_FEATURE_NAMES.index("j_multiplicity") == 52


def constituent_columns(momenta: np.ndarray, jet_p4: np.ndarray | None = None) -> np.ndarray:
    """All 16 ``jetConstituentList`` columns from (px, py, pz, e) constituents.

    ``momenta`` is (N, M, 4) in file order px, py, pz, e, zero rows for padding; ``jet_p4`` is the (N, 4)
    jet four-momentum in the same order (default: the sum of the given constituents). The relative
    columns (erel, ptrel, etarel, phirel, deltaR, costhetarel) are against that jet. etarot/phirot are
    (etarel, phirel) rotated so the pT-weighted principal axis of the jet's constituents lies along η,
    the usual jet-image convention. Padded rows stay all zero.
    """
    momenta = np.asarray(momenta, dtype=np.float64)
    if jet_p4 is None:
        jet_p4 = momenta.sum(axis=1)
    px, py, pz, e = (momenta[..., i] for i in range(4))
    real = (px != 0) | (py != 0) | (pz != 0) | (e != 0)
    pt, eta, phi = pt_eta_phi(px, py, pz)
    jpx, jpy, jpz, je = (jet_p4[:, i:i + 1] for i in range(4))
    jpt, jeta, jphi = pt_eta_phi(jpx, jpy, jpz)
    etarel = eta - jeta
    phirel = wrap_phi(phi - jphi)
    # Principal axis of the pT-weighted (etarel, phirel) cloud, one angle per jet.
    w = np.where(real, pt, 0.0)
    sxx = (w * etarel**2).sum(1, keepdims=True)
    syy = (w * phirel**2).sum(1, keepdims=True)
    sxy = (w * etarel * phirel).sum(1, keepdims=True)
    angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)
    c, s = np.cos(angle), np.sin(angle)
    etarot = c * etarel + s * phirel
    phirot = -s * etarel + c * phirel
    p = np.sqrt(px**2 + py**2 + pz**2)
    jp = np.sqrt(jpx**2 + jpy**2 + jpz**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        costheta = np.where(p > 0, pz / np.where(p > 0, p, 1.0), 0.0)
        costhetarel = np.where(p > 0, (px * jpx + py * jpy + pz * jpz) / np.where(p > 0, p * jp, 1.0), 0.0)
    cols = [px, py, pz, e, e / je, pt, pt / jpt, eta, etarel, etarot, phi, phirel, phirot,
            np.hypot(etarel, phirel), costheta, costhetarel]
    out = np.stack(np.broadcast_arrays(*cols), axis=-1)
    out[~real] = 0.0
    return out


def write_hls4ml_file(
    path: str | Path,
    momenta: np.ndarray,
    labels: np.ndarray,
    jet_p4: np.ndarray | None = None,
    multiplicity: np.ndarray | None = None,
    extra_jet_columns: dict[str, np.ndarray] | None = None,
    n_constituents: int = N_STORED_CONSTITUENTS,
    compression: str | None = "gzip",
) -> Path:
    """Write jets as one hls4ml-layout HDF5 file, atomically (temporary name, then rename).

    ``momenta`` (N, M, 4) px, py, pz, e sorted by descending pT with zero padding; ``labels`` (N,)
    class indices into ``CLASS_NAMES``. ``jet_p4`` (N, 4, px py pz e) and ``multiplicity`` default to
    the sum and count of the given constituents. Columns of ``jets`` that the caller does not supply
    (the substructure variables) are NaN: not computed, rather than a misleading number.
    Dataset timestamps are off so the same jets give byte-identical files.
    """
    path = Path(path)
    momenta = np.asarray(momenta, dtype=np.float64)
    labels = np.asarray(labels)
    n, m, _ = momenta.shape
    stored = np.zeros((n, n_constituents, 4))
    keep = min(m, n_constituents)
    stored[:, :keep] = momenta[:, :keep]
    if jet_p4 is None:
        jet_p4 = momenta.sum(axis=1)
    if multiplicity is None:
        multiplicity = (np.abs(momenta).sum(-1) > 0).sum(1)
    jets = np.full((n, N_JET_COLUMNS), np.nan)
    jpt, jeta, _ = pt_eta_phi(jet_p4[:, 0], jet_p4[:, 1], jet_p4[:, 2])
    m2 = jet_p4[:, 3] ** 2 - (jet_p4[:, :3] ** 2).sum(1)
    column = JET_FEATURE_NAMES.index
    jets[:, column("j_pt")] = jpt
    jets[:, column("j_eta")] = jeta
    jets[:, column("j_mass")] = np.sqrt(np.clip(m2, 0, None))
    jets[:, column("j_multiplicity")] = multiplicity
    jets[:, column("j_g"):column("j_undef") + 1] = 0.0
    jets[np.arange(n), column("j_g") + labels.astype(int)] = 1.0
    for name, values in (extra_jet_columns or {}).items():
        jets[:, column(name)] = values
    tmp = path.with_name(path.name + ".tmp")
    opts = dict(track_times=False, compression=compression)
    with h5py.File(tmp, "w", track_order=False) as f:
        f.create_dataset("jetConstituentList", data=constituent_columns(stored, jet_p4), **opts)
        f.create_dataset("jets", data=jets, **opts)
        f.create_dataset("jetFeatureNames", data=np.array(JET_FEATURE_NAMES, dtype="S"), track_times=False)
        f.create_dataset("particleFeatureNames", data=np.array(PARTICLE_FEATURE_NAMES, dtype="S"),
                         track_times=False)
    tmp.replace(path)
    return path
