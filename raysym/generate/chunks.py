"""The chunks of a generation run: their files, the run's manifest, and making them (docs/methods.md §1.3).

The jets of a run are split into chunks (one class, ``chunk_size`` jets); each chunk is made by its
own seeded Pythia and written to its own file, ``jetImage_gen_{class}_s{seed}_c{chunk:04d}.h5``, in the
hls4ml layout — or, for a top-vs-QCD study, ``toptag_gen_{class}_s{seed}_c{chunk:04d}.h5`` in the
top-tagging data set's layout (:mod:`raysym.data.dataset_toptag`), light-quark and gluon jets as QCD and top
jets as signal. Seeds come from (seed, class, chunk) only, so the files are the same however many workers
ran, and the same jets in either layout. A chunk whose file exists is skipped: files are written atomically, so an existing file is
complete and a killed run resumes where it stopped. ``generate_chunk`` is the plain function;
``generate`` hands it to the shared fan-out (:mod:`raysym.fanout`), one task per chunk, one CPU each.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

import h5py
import numpy as np

from raysym.artifacts import exists, join, list_files, normalise, read_bytes, staged_file, write_bytes
from raysym.data.dataset_toptag import STORED_CONSTITUENTS as TOPTAG_CONSTITUENTS
from raysym.data.dataset_toptag import write_toptag_file
from raysym.data.hls4ml_layout import N_STORED_CONSTITUENTS, write_hls4ml_file
from raysym.errors import ConfigError
from raysym.fanout import cluster_window, fan_out
from raysym.generate.config import GeneratorConfig
from raysym.generate.events import JetSample, make_jets
from raysym.generate.processes import PROCESSES, chunk_seeds
from raysym.paths import writable_location
from raysym.ray_session import ensure_ray

#: Written next to the files: the settings that made them, so a rerun cannot mix two runs.
MANIFEST_NAME = "raysym_generate.json"
#: Extra per-jet dataset: the signed PDG id of the matched parton, boson or top.
TRUTH_PDG_DATASET = "jetTruthPdgId"
#: The layouts the generator writes, and each one's file-name prefix.
LAYOUTS: dict[str, str] = {"hls4ml": "jetImage_gen", "toptag": "toptag_gen"}
#: The top-tagging layout's label of each class it takes: QCD (0) is light-quark and gluon jets, top is 1.
TOPTAG_SIGNAL: dict[str, int] = {"q": 0, "g": 0, "t": 1}


def check_layout(config: GeneratorConfig, layout: str) -> None:
    """``layout`` is one the generator writes, and ``config``'s classes fit it: the top-tagging layout takes
    top jets and light-quark or gluon jets (its QCD), nothing else."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown generator layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout == "toptag":
        other = sorted(set(config.classes) - set(TOPTAG_SIGNAL))
        if other or "t" not in config.classes or not {"q", "g"} & set(config.classes):
            raise ConfigError(f"the top-tagging layout holds top jets against light-quark or gluon jets (classes "
                              f"t and q and/or g), got classes {','.join(config.classes)}")


def chunk_path(out_dir: str | Path, class_name: str, seed: int, chunk: int, layout: str = "hls4ml") -> str:
    """The location of one chunk's file (a local path or a URI); an hls4ml file's name matches the
    ``jetImage_*.h5`` pattern its reader globs, a top-tagging file is one of a folder's ``*.h5``."""
    return join(out_dir, f"{LAYOUTS[layout]}_{class_name}_s{seed}_c{chunk:04d}.h5")


def all_chunks(config: GeneratorConfig) -> list[tuple[str, int]]:
    """(class, chunk) of every chunk of the run, class by class."""
    return [(c, k) for c in config.classes for k in range(config.n_chunks())]


def write_chunk_file(location: str | Path, sample: JetSample, label: int, layout: str = "hls4ml",
                     class_name: str = "") -> str:
    """Write one chunk's jets in the hls4ml layout plus ``jetTruthPdgId`` to ``location``, atomically, or in
    the top-tagging layout (``class_name`` decides QCD or top).

    The layout writer fills a staged local file, the truth ids are appended to it, and only then does it
    appear under its final name (renamed, or uploaded to an object store): a file with the final name is
    always complete.
    """
    if layout == "toptag":
        momenta = sample.padded(TOPTAG_CONSTITUENTS)  # (px, py, pz, E) → the layout's (E, px, py, pz)
        with staged_file(location) as partial:
            write_toptag_file(partial, np.concatenate([momenta[..., 3:], momenta[..., :3]], axis=-1),
                              np.full(len(sample), TOPTAG_SIGNAL[class_name]))
        return normalise(location)
    with staged_file(location) as partial:
        write_hls4ml_file(partial, sample.padded(N_STORED_CONSTITUENTS), np.full(len(sample), label),
                          jet_p4=sample.jet_p4, multiplicity=sample.multiplicity)
        with h5py.File(partial, "a") as f:
            f.create_dataset(TRUTH_PDG_DATASET, data=sample.truth_pdg_id.astype(np.int64), track_times=False)
    return normalise(location)


def generate_chunk(config: GeneratorConfig, class_name: str, chunk: int, out_dir: str | Path,
                   layout: str = "hls4ml") -> str:
    """Make and write the jets of one chunk in this process (no Ray); skip it if its file exists.

    ``out_dir`` may be a URI (the study's output location on a cluster): the task then uploads its file
    there, so the driver finds every chunk whichever node made it."""
    path = chunk_path(out_dir, class_name, config.seed, chunk, layout)
    if exists(path):
        return path
    pythia_seed, detector_seed = chunk_seeds(config.seed, class_name, chunk)
    sample = make_jets(class_name, config.chunk_jets(chunk), pythia_seed, detector_seed, mpi=config.mpi,
                       detector=config.detector, pthat_min=config.pthat_min,
                       light_quarks_only=config.light_quarks_only)
    return write_chunk_file(path, sample, PROCESSES[class_name].label, layout, class_name)


def _chunk_files(out_dir: str, layout: str = "hls4ml") -> list[str]:
    return [p for p in list_files(out_dir, ".h5") if posixpath.basename(p).startswith(f"{LAYOUTS[layout]}_")]


def prepare_out_dir(config: GeneratorConfig, out_dir: str | Path, layout: str = "hls4ml") -> str:
    """Create ``out_dir`` and record the settings, or check that earlier files used the same ones.

    The manifest only guards jets: a folder whose earlier run left a manifest but no chunk file (it died
    before its first chunk) takes the new settings.
    """
    out_dir = writable_location(out_dir, "output directory")
    manifest = json.loads(json.dumps(config.manifest()))
    if layout != "hls4ml":  # an hls4ml folder's manifest stays as it always was
        manifest["layout"] = layout
    path = join(out_dir, MANIFEST_NAME)
    if exists(path) and (_chunk_files(out_dir) or _chunk_files(out_dir, "toptag")):
        try:
            previous = json.loads(read_bytes(path, "generator manifest"))
        except ValueError:
            raise ConfigError(f"{path} is not a readable generator manifest, and {out_dir} holds generated "
                              "jets; choose another output directory") from None
        if previous != manifest:
            changed = sorted(k for k in set(previous) | set(manifest) if previous.get(k) != manifest.get(k))
            raise ConfigError(f"{out_dir} holds jets generated with other settings ({', '.join(changed)} "
                              "differ); choose another output directory")
    else:
        write_bytes(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return out_dir


def _make_chunk(chunk: tuple[str, int], config: GeneratorConfig, out_dir: str, layout: str) -> str:
    """One fan-out task: :func:`generate_chunk` of (class, chunk number)."""
    class_name, number = chunk
    return generate_chunk(config, class_name, number, out_dir, layout)


def _chunk_name(chunk: tuple[str, int]) -> str:
    return f"class {chunk[0]} chunk {chunk[1]}"


def generate(config: GeneratorConfig, out_dir: str | Path, *, address: str | None = None,
             num_cpus: int | None = None, use_ray: bool = True, progress: bool = True,
             layout: str = "hls4ml") -> list[str]:
    """Generate every missing chunk of ``config`` into ``out_dir`` (a folder or a URI) in ``layout``
    (:data:`LAYOUTS`); return the locations of all the run's files.

    With ``use_ray`` (the default) each chunk is one Ray task needing one CPU; a local Ray with
    ``num_cpus`` CPUs (default: all) is started unless Ray is already initialised or ``address`` names
    a running cluster, and a Ray started here is shut down at the end. Without Ray the chunks run one
    after the other in this process. A chunk that fails stops the run with an error naming it.
    """
    check_layout(config, layout)
    out_dir = prepare_out_dir(config, out_dir, layout)
    chunks = all_chunks(config)
    paths = [chunk_path(out_dir, c, config.seed, k, layout) for c, k in chunks]
    present = set(_chunk_files(out_dir, layout))  # one listing, not a request per chunk on an object store
    todo = [chunk for chunk, path in zip(chunks, paths) if path not in present]
    if not todo:
        return paths
    started = use_ray and ensure_ray(address, num_cpus)
    try:
        # A bounded window of tasks in flight: the driver's memory does not grow with the number of chunks.
        for _ in fan_out(_make_chunk, todo, name=_chunk_name, args=(config, out_dir, layout), spread=False,
                         progress=progress, desc="generate", use_ray=use_ray,
                         max_in_flight=cluster_window() if use_ray else None):
            pass
    finally:
        if started:
            import ray

            ray.shutdown()
    return paths
