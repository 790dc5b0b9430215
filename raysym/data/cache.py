"""An on-disk cache of read jet sets, so that the second run of a study loads its jets in seconds.

Reading the hls4ml archive (docs/methods.md §1.2) means decompressing ~88 files of 150 float64 constituents per
jet; the ``JetSet`` the study needs (docs/methods.md §1.1) is a few hundred MB of float32. ``load_jets`` keeps that
set as one uncompressed ``.npz`` next to the data and reuses it while the same files, unchanged, are
read with the same settings. A cache file is never trusted: it carries the key it was built for and
is rebuilt when the key differs or the file cannot be read back.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from raysym.data.dataset_spec import DatasetSpec
from raysym.data.hls4ml_reader import Source, read_hls4ml, resolve_files
from raysym.data.jetset import N_CONSTITUENTS, JetSet
from raysym.errors import ConfigError

log = logging.getLogger(__name__)

#: Bump when the reader's output, what it refuses, or the cache layout changes, so old cache files are not
#: reused. 2: the reader refuses data sets of non-numbers, constituents above the LHC's energy and jets
#: along the beam, which a version-1 cache may hold.
CACHE_VERSION = 2
CACHE_DIR_NAME = ".raysym-cache"
_ARRAYS = ("p4", "mask", "label", "jet_pt", "jet_eta", "jet_mass")
#: The reader's settings and their defaults, taken once (the key must not depend on a wrapper).
_READER_SIGNATURE = inspect.signature(read_hls4ml)


def _reader_settings(reader_kwargs: dict, dataset: DatasetSpec | None = None) -> dict:
    """The reader's keyword settings with defaults filled in, so spelling a default out or leaving
    it implicit gives the same key. An argument the reader does not take is a ``ConfigError``. Another
    data set than hls4ml adds its name and declaration, so a changed declaration is another cache file."""
    if dataset is not None and dataset.name != "hls4ml":
        unknown = sorted(set(reader_kwargs) - {"n_constituents", "max_jets"})
        if unknown:
            raise ConfigError(f"load_jets: data set {dataset.name!r} takes no setting(s) {', '.join(unknown)}")
        return {"n_constituents": N_CONSTITUENTS, "max_jets": None, **reader_kwargs, "dataset": dataset.name,
                "declaration": repr((dataset.classes, dataset.tasks, dataset.weighted))}
    try:
        bound = _READER_SIGNATURE.bind(None, **reader_kwargs)
    except TypeError as err:
        raise ConfigError(f"load_jets: {err}") from err
    bound.apply_defaults()
    settings = dict(bound.arguments)
    settings.pop("source")
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in settings.items()}


def cache_keys(files: list[Path], settings: dict) -> tuple[str, str]:
    """(name key, content key): the first names the cache file (which files, which settings), the
    second also covers each file's size and modification time, so a changed file invalidates it."""
    names = [str(p) for p in files]
    stats = [(p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    base = {"version": CACHE_VERSION, "files": names, "settings": settings}
    name_key = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()
    content = dict(base, stats=stats)
    content_key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return name_key, content_key


def default_cache_dir(source: Source, files: list[Path]) -> Path:
    """``<source dir>/.raysym-cache``: next to the data, for a directory, a file or a list of files."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return Path(source).resolve() / CACHE_DIR_NAME
    return files[0].parent / CACHE_DIR_NAME


def _location(source: Source, cache_dir: str | Path | None, settings: dict,
              dataset: DatasetSpec | None = None) -> tuple[Path, str]:
    """(cache file, content key) for reading ``source`` with the reader ``settings``."""
    files = resolve_files(source, settings["particles"]) if "dataset" not in settings else dataset.files(source)
    name_key, content_key = cache_keys(files, settings)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir(source, files)
    return directory / f"jets-{name_key[:20]}.npz", content_key


def cache_path(source: Source, cache_dir: str | Path | None = None, **reader_kwargs) -> Path:
    """Where ``load_jets`` keeps the cached set for these arguments (whether or not it exists)."""
    return _location(source, cache_dir, _reader_settings(reader_kwargs))[0]


def _load_cached(path: Path, content_key: str, dataset: DatasetSpec | None) -> JetSet | None:
    """The cached set if ``path`` holds one built for ``content_key``; None (and a log line) if not."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["cache_key"]) != content_key:
                log.info("jet cache %s is stale (data files or settings changed); rebuilding", path)
                return None
            arrays = {name: npz[name] for name in _ARRAYS}
            if dataset is None or dataset.name == "hls4ml":
                return JetSet(**arrays, source=str(npz["source"]))
            return dataset.jets(**arrays, source=str(npz["source"]), weight=npz["weight"] if dataset.weighted else None)
    except Exception as err:  # noqa: BLE001 -- any unreadable cache is rebuilt, never trusted
        log.warning("jet cache %s is unreadable (%s: %s); rebuilding", path, type(err).__name__, err)
        return None


def _store(path: Path, jets: JetSet, content_key: str) -> None:
    """Write the set uncompressed under a temporary name, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, cache_key=np.array(content_key), source=np.array(jets.source),
                     **{name: getattr(jets, name) for name in _ARRAYS},
                     **({"weight": jets.weight} if jets.weight is not None else {}))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the data beside it is shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_jets(source: Source, cache_dir: str | Path | None = None, dataset: DatasetSpec | None = None,
              **reader_kwargs) -> JetSet:
    """``dataset.read(source, **reader_kwargs)`` (hls4ml's reader by default), through an on-disk cache.

    The cache is keyed on the resolved file list, each file's size and mtime, and the reader
    settings; a matching cache file is loaded, a stale or corrupt one is rebuilt. ``cache_dir``
    defaults to ``.raysym-cache`` beside the data. If the cache cannot be written (read-only data
    directory, full disk) the jets are still returned, with a warning.
    """
    settings = _reader_settings(reader_kwargs, dataset)
    path, content_key = _location(source, cache_dir, settings, dataset)
    cached = _load_cached(path, content_key, dataset)
    if cached is not None:
        log.info("loaded %d jets from cache %s", len(cached), path)
        return cached
    if "dataset" in settings:
        jets = dataset.read(source, settings["n_constituents"], settings["max_jets"])
    else:
        jets = read_hls4ml(source, **settings)
    try:
        _store(path, jets, content_key)
    except OSError as err:
        log.warning("could not write jet cache %s (%s); continuing without it", path, err)
    return jets
