"""Chunks, files and the Ray fan-out of the offline generator (SPEC §1.3).

The jets of a run are split into chunks (one class, ``chunk_size`` jets); each chunk is made by its
own seeded Pythia and written to its own file, ``jetImage_gen_{class}_s{seed}_c{chunk:04d}.h5``, in the
hls4ml layout. Seeds come from (seed, class, chunk) only, so the files are the same however many workers
ran. A chunk whose file exists is skipped: files are written atomically, so an existing file is
complete and a killed run resumes where it stopped. ``generate_chunk`` is the plain function; Ray only
calls it, one task per chunk, one CPU each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from raysym.data.hls4ml_layout import N_STORED_CONSTITUENTS, write_hls4ml_file
from raysym.errors import ConfigError
from raysym.generate.config import GeneratorConfig
from raysym.generate.events import JetSample, make_jets
from raysym.generate.processes import PROCESSES, chunk_seeds
from raysym.ray_session import ensure_ray

#: Written next to the files: the settings that made them, so a rerun cannot mix two runs.
MANIFEST_NAME = "raysym_generate.json"
#: Extra per-jet dataset: the signed PDG id of the matched parton, boson or top.
TRUTH_PDG_DATASET = "jetTruthPdgId"


def chunk_path(out_dir: str | Path, class_name: str, seed: int, chunk: int) -> Path:
    """The file of one chunk; the name matches the hls4ml ``jetImage_*.h5`` pattern readers glob."""
    return Path(out_dir) / f"jetImage_gen_{class_name}_s{seed}_c{chunk:04d}.h5"


def all_chunks(config: GeneratorConfig) -> list[tuple[str, int]]:
    """(class, chunk) of every chunk of the run, class by class."""
    return [(c, k) for c in config.classes for k in range(config.n_chunks())]


def write_chunk_file(path: str | Path, sample: JetSample, label: int) -> Path:
    """Write one chunk's jets in the hls4ml layout plus ``jetTruthPdgId``, atomically.

    The layout writer fills a ``.partial`` file (itself atomically), the truth ids are appended to it,
    and only then does it get its final name: a file with the final name is always complete.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    write_hls4ml_file(partial, sample.padded(N_STORED_CONSTITUENTS), np.full(len(sample), label),
                      jet_p4=sample.jet_p4, multiplicity=sample.multiplicity)
    with h5py.File(partial, "a") as f:
        f.create_dataset(TRUTH_PDG_DATASET, data=sample.truth_pdg_id.astype(np.int64), track_times=False)
    os.replace(partial, path)
    return path


def generate_chunk(config: GeneratorConfig, class_name: str, chunk: int, out_dir: str | Path) -> Path:
    """Make and write the jets of one chunk in this process (no Ray); skip it if its file exists."""
    path = chunk_path(out_dir, class_name, config.seed, chunk)
    if path.exists():
        return path
    pythia_seed, detector_seed = chunk_seeds(config.seed, class_name, chunk)
    sample = make_jets(class_name, config.chunk_jets(chunk), pythia_seed, detector_seed, mpi=config.mpi,
                       detector=config.detector, pthat_min=config.pthat_min,
                       light_quarks_only=config.light_quarks_only)
    return write_chunk_file(path, sample, PROCESSES[class_name].label)


def prepare_out_dir(config: GeneratorConfig, out_dir: str | Path) -> Path:
    """Create ``out_dir`` and record the settings, or check that earlier files used the same ones."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"output directory {out_dir} is an existing file")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(json.dumps(config.manifest()))
    path = out_dir / MANIFEST_NAME
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != manifest:
            changed = sorted(k for k in set(previous) | set(manifest) if previous.get(k) != manifest.get(k))
            raise ConfigError(f"{out_dir} holds jets generated with other settings ({', '.join(changed)} "
                              "differ); choose another output directory")
    else:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
    return out_dir


def _chunk_task(config: GeneratorConfig, class_name: str, chunk: int, out_dir: str) -> str:
    """The body of the Ray task: single-threaded numerical libraries, then the plain function."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return str(generate_chunk(config, class_name, chunk, out_dir))


def generate(config: GeneratorConfig, out_dir: str | Path, *, address: str | None = None,
             num_cpus: int | None = None, use_ray: bool = True, progress: bool = True) -> list[Path]:
    """Generate every missing chunk of ``config`` into ``out_dir``; return all the run's file paths.

    With ``use_ray`` (the default) each chunk is one Ray task needing one CPU; a local Ray with
    ``num_cpus`` CPUs (default: all) is started unless Ray is already initialised or ``address`` names
    a running cluster, and a Ray started here is shut down at the end. Without Ray the chunks run one
    after the other in this process. A tqdm bar counts finished chunks.
    """
    from tqdm.auto import tqdm

    out_dir = prepare_out_dir(config, out_dir)
    chunks = all_chunks(config)
    paths = [chunk_path(out_dir, c, config.seed, k) for c, k in chunks]
    todo = [chunk for chunk, path in zip(chunks, paths) if not path.exists()]
    if not todo:
        return paths
    bar = tqdm(total=len(chunks), initial=len(chunks) - len(todo), unit="chunk", desc="generate",
               disable=not progress)
    if not use_ray:
        for class_name, chunk in todo:
            generate_chunk(config, class_name, chunk, out_dir)
            bar.update()
        bar.close()
        return paths

    import ray

    started = ensure_ray(address, num_cpus)
    try:
        task = ray.remote(num_cpus=1)(_chunk_task)
        pending = [task.remote(config, c, k, str(out_dir)) for c, k in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ray.get(done)  # re-raises a failed chunk's error here
            bar.update(len(done))
    finally:
        bar.close()
        if started:
            ray.shutdown()
    return paths
