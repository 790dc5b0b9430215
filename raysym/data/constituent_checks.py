"""Checks every reader applies to constituent four-momenta, whatever the file layout (docs/methods.md §1.2).

A reader turns its files into (jets, constituents, [px, py, pz, E]) float64 blocks and hands them to
:func:`leading_constituents`, which refuses NaN or infinite momenta, energies no LHC collision makes,
unphysical constituents (E < |p|), jets without a constituent, and jets along the beam, each as one
``DataError`` naming the file and the first bad jet, and returns the leading constituents as the study
keeps them: (E, px, py, pz) float32 with a mask. Whatever passes is finite in float32 and gives the
taggers finite inputs (docs/methods.md §2). The duplicate-jet and memory checks, and the limits on what a
file may declare, are here for the same reason: every data set can repeat a file, be larger than the
machine or declare data it does not store; :func:`folder_files` and :func:`given_files` list a reader's files
with the same refusals (nothing to read, a missing file, a file named twice); and :func:`describe_source`
names the data in every error alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from raysym.errors import DataError

#: E may fall short of |p| by this fraction (the files' own rounding); more is an unphysical momentum.
ENERGY_TOLERANCE = 1e-4
#: The most energy one constituent may carry, in GeV: the LHC's design collision energy √s = 14 TeV. In the
#: lab (the collision's rest frame) momentum balance caps any one particle at √s/2: 7 TeV at design,
#: 6.5 TeV for the 13 TeV hls4ml and generated jets. The factor of two leaves room for a detector's
#: energy smearing; a constituent above it did not come from an LHC collision. Since |p| <= E is checked
#: too, it bounds every momentum component ~10³⁴ below float32's largest number, so the float32 jets and
#: what the taggers compute from them (E², jet sums, SEAL's boosts by γ <= 4.5) stay finite.
MAX_CONSTITUENT_ENERGY = 14_000.0
#: The largest |rapidity| of a jet (the sum of its kept constituents, as the taggers' Δη uses it,
#: docs/methods.md §2). ATLAS and CMS measure particles to |η| ≈ 4.9–5.2 and reconstruct jets to
#: |η| ≈ 4.5–4.7, so a jet beyond 5 was not measured by an LHC detector (the study's jets have |η| < 2.5).
#: It also keeps atanh(pz/E) finite in float32, which rounds pz/E to 1 beyond |y| ≈ 8.7: the margin of 3.7
#: exceeds the rapidity SEAL's largest boost adds (atanh(0.975) ≈ 2.2, docs/methods.md §3.1).
MAX_JET_RAPIDITY = 5.0
#: A data set that declares over this many times the bytes it stores is not a real data set.
MAX_DECLARED_PER_STORED = 1000
#: numpy dtype kinds a data set of numbers may have: float, signed and unsigned integer. Strings, complex
#: numbers, booleans and records cannot be momenta, labels or jet kinematics.
REAL_KINDS = "fiu"


def chunk_length(target: int, chunk_rows: int | None) -> int:
    """Jets per read of an HDF5 file: about ``target``, and a whole number of the data set's HDF5 chunks
    (``chunk_rows`` jets each) when it is chunked, so no chunk is decompressed twice."""
    if chunk_rows:
        return max(1, target // chunk_rows) * chunk_rows
    return target


def folder_files(folder: Path, pattern: str, hint: str = "") -> list[Path]:
    """The files of ``folder`` matching ``pattern``, sorted by name and absolute; none is a ``DataError``
    (``hint`` is added to its message)."""
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    if not found:
        raise DataError(f"{folder}: no {pattern} files in this directory{hint}")
    return [p.resolve() for p in found]


def given_files(source, what: str) -> list[Path]:
    """The files named by ``source`` (one path or a list of them), absolute, as given: an empty list, a path
    that does not exist or is not a regular file, or a file named twice is a ``DataError`` (``what`` names
    the files in the first)."""
    candidates = [Path(source)] if isinstance(source, (str, Path)) else [Path(p) for p in source]
    if not candidates:
        raise DataError(f"an empty list of {what} was given")
    for path in candidates:
        if not path.exists():
            raise DataError(f"{path}: no such file or directory")
        if not path.is_file():
            raise DataError(f"{path}: not a regular file")
    resolved = [p.resolve() for p in candidates]
    twice = sorted({str(p) for p in resolved if resolved.count(p) > 1})
    if twice:
        raise DataError(f"{twice[0]}: listed twice; every file may be read once")
    return resolved


def describe_source(source, files: Sequence[Path]) -> str:
    """A short human name for the data: the directory, the file, or the first and last file."""
    if isinstance(source, (str, Path)):
        return str(Path(source).resolve())
    if len(files) == 1:
        return str(files[0])
    return f"{files[0]} ... {files[-1].name} ({len(files)} files)"


def check_finite(momenta: np.ndarray, offset: int, path: Path) -> None:
    """No NaN or infinite momentum: one error counting both kinds and naming the first such jet."""
    finite = np.isfinite(momenta)
    if finite.all():
        return
    nan_jets = np.isnan(momenta).any(axis=(1, 2))
    inf_jets = np.isinf(momenta).any(axis=(1, 2))
    bad = np.flatnonzero(nan_jets | inf_jets)
    raise DataError(f"{path}: {int(nan_jets.sum())} jet(s) with NaN and {int(inf_jets.sum())} "
                    f"with infinite constituent momenta in jets {offset}..{offset + len(momenta) - 1} "
                    f"(first: jet {offset + int(bad[0])})")


def magnitude(momenta: np.ndarray) -> np.ndarray:
    """|p| of (..., [px, py, pz, e]) without overflow for any finite float64 component."""
    return np.hypot(np.hypot(momenta[..., 0], momenta[..., 1]), momenta[..., 2])


def check_energy_scale(momenta: np.ndarray, offset: int, path: Path) -> None:
    """No constituent may carry more than :data:`MAX_CONSTITUENT_ENERGY`: more did not come from an LHC
    collision (pz = E = 10³⁰ GeV passes E >= |p|, then turns the taggers' weights into NaN), and it keeps
    the float32 conversion of every momentum finite."""
    energy = momenta[..., 3]
    bad = energy > MAX_CONSTITUENT_ENERGY
    if bad.any():
        jet, constituent = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: jet {offset + jet} has a constituent {constituent} with E = "
                        f"{energy[jet, constituent]:.6g} GeV, above {MAX_CONSTITUENT_ENERGY:,.0f} GeV (the LHC's "
                        f"√s; no particle of an LHC collision carries more than half of it); "
                        f"{int(bad.any(axis=1).sum())} such jet(s) in jets {offset}..{offset + len(momenta) - 1}")


def check_physical(momenta: np.ndarray, offset: int, path: Path) -> None:
    """Every constituent must have E >= 0 and E >= |p| (to :data:`ENERGY_TOLERANCE`): a massless or
    massive particle. Anything else would reach the features as a silently clipped log E."""
    energy, momentum = momenta[..., 3], magnitude(momenta)
    bad = (energy < 0) | (energy < momentum * (1 - ENERGY_TOLERANCE))
    if bad.any():
        jet, constituent = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(f"{path}: jet {offset + jet} has an unphysical constituent {constituent} with "
                        f"E = {energy[jet, constituent]:.6g} GeV and |p| = {momentum[jet, constituent]:.6g} GeV "
                        f"(E must be >= |p| >= 0); {int(bad.any(axis=1).sum())} such jet(s) in jets "
                        f"{offset}..{offset + len(momenta) - 1}")


def check_jet_rapidity(p4: np.ndarray, mask: np.ndarray, offset: int, path: Path) -> None:
    """Each jet, as the taggers see it (the float32 sum of its kept constituents, docs/methods.md §2),
    must have |y| <= :data:`MAX_JET_RAPIDITY`: a jet along the beam has pz = E in float32, an infinite
    rapidity and so an infinite Δη for every constituent."""
    jet = np.where(mask[..., None], p4, np.float32(0)).sum(axis=1, dtype=np.float32)
    energy, pz = jet[:, 0].astype(np.float64), jet[:, 3].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rapidity = np.where(energy > np.abs(pz), 0.5 * np.log((energy + pz) / (energy - pz)),
                            np.copysign(np.inf, pz))
    bad = ~(np.abs(rapidity) <= MAX_JET_RAPIDITY)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}: jet {offset + first} has rapidity y = {rapidity[first]:.4g} (its kept "
                        f"constituents sum to E = {energy[first]:.6g} GeV, pz = {pz[first]:.6g} GeV), beyond "
                        f"|y| = {MAX_JET_RAPIDITY:g}: no LHC detector measures jets there, and the taggers' "
                        f"Δη would not be finite; {int(bad.sum())} such jet(s) in jets "
                        f"{offset}..{offset + len(p4) - 1}")


def leading(momenta: np.ndarray, n_keep: int, offset: int, path: Path) -> tuple[np.ndarray, ...]:
    """The ``n_keep`` leading constituents by pT of (jets, stored, [px, py, pz, e]), zero-padded.

    Files are meant to be sorted; one that is not is sorted here (stable, so ties keep file order).
    """
    pt = np.hypot(momenta[..., 0], momenta[..., 1])
    empty = np.flatnonzero(~(pt > 0).any(axis=1))
    if empty.size:
        raise DataError(f"{path}: jet {offset + int(empty[0])} has no constituents with pT > 0 "
                        f"({empty.size} such jet(s) in this chunk)")
    if (pt[:, 1:] > pt[:, :-1]).any():
        order = np.argsort(-pt, axis=1, kind="stable")
        momenta = np.take_along_axis(momenta, order[..., None], axis=1)
        pt = np.take_along_axis(pt, order, axis=1)
    kept = min(n_keep, momenta.shape[1])
    p4 = np.zeros((len(momenta), n_keep, 4), dtype=np.float32)
    p4[:, :kept, 0] = momenta[:, :kept, 3]  # E first, as the physics code expects (docs/methods.md §1.1)
    p4[:, :kept, 1:] = momenta[:, :kept, :3]
    mask = np.zeros((len(momenta), n_keep), dtype=bool)
    mask[:, :kept] = pt[:, :kept] > 0
    p4[~mask] = 0.0
    return p4, mask


def check_memory(n_jets: int, n_constituents: int, source: str) -> None:
    """The jets must fit into this machine's memory (as the reader holds them), with room to spare."""
    needed = n_jets * (n_constituents * 17 + 13)  # float32 p4 + bool mask per constituent; label, jet pT/η/m
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every system reports it
        return
    if needed > available:
        raise DataError(f"{source}: {n_jets:,} jets need {needed / 1e9:.3g} GB in memory, more than the "
                        f"{available / 1e9:.3g} GB free on this machine; read fewer files or pass max_jets")


def check_unique_jets(out: dict[str, np.ndarray], files: Sequence[Path], starts: Sequence[int]) -> None:
    """No jet may appear twice (the same data under two names): jets are told apart by their leading
    constituent, jet pT and label, which two different jets never share exactly."""
    if len(out["label"]) < 2:
        return
    key = np.zeros(len(out["label"]), dtype=[("p", "<f4", 4), ("pt", "<f4"), ("label", "i1")])
    key["p"], key["pt"], key["label"] = out["p4"][:, 0], out["jet_pt"], out["label"]
    order = np.argsort(key.view(np.void(key.dtype.itemsize)).ravel(), kind="stable")
    same = np.flatnonzero(key[order][1:] == key[order][:-1])
    if same.size:
        first, second = sorted((int(order[same[0]]), int(order[same[0] + 1])))
        where = [(files[i], row - starts[i]) for row in (first, second)
                 for i in [int(np.searchsorted(starts, row, side="right")) - 1]]
        raise DataError(f"{where[1][0]}: jet {where[1][1]} is the same jet as jet {where[0][1]} of "
                        f"{where[0][0]}; read each jet once")


def allocate(n_jets: int, n_constituents: int) -> dict[str, np.ndarray]:
    return {
        "p4": np.zeros((n_jets, n_constituents, 4), dtype=np.float32),
        "mask": np.zeros((n_jets, n_constituents), dtype=bool),
        "label": np.zeros(n_jets, dtype=np.int8),
        "jet_pt": np.zeros(n_jets, dtype=np.float32),
        "jet_eta": np.zeros(n_jets, dtype=np.float32),
        "jet_mass": np.zeros(n_jets, dtype=np.float32),
    }


def leading_constituents(momenta: np.ndarray, n_keep: int, offset: int, path: Path | str,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Every check above on one block of (jets, constituents, [px, py, pz, E]) momenta starting at jet
    ``offset`` of ``path``, then the ``n_keep`` leading constituents as (p4, mask)."""
    check_finite(momenta, offset, path)
    check_energy_scale(momenta, offset, path)
    check_physical(momenta, offset, path)
    p4, mask = leading(momenta, n_keep, offset, path)
    check_jet_rapidity(p4, mask, offset, path)
    return p4, mask


def jet_kinematics(p4: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, η, mass) of each jet as the sum of its kept constituents, float32: for layouts that store no
    jet-level kinematics. The mass is √max(E² − |p|², 0)."""
    jet = np.where(mask[..., None], p4, 0).astype(np.float64).sum(axis=1)
    energy, px, py, pz = jet[:, 0], jet[:, 1], jet[:, 2], jet[:, 3]
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pz), where=pt > 0))
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))
    return pt.astype(np.float32), eta.astype(np.float32), mass.astype(np.float32)
