"""The on-disk jet cache: a hit skips the reader, a changed file or a corrupt cache is rebuilt."""

from __future__ import annotations

import os

import numpy as np
import pytest

import raysym.data.cache as cache
from raysym.data.cache import cache_path, load_jets
from raysym.data.hls4ml_layout import write_hls4ml_file
from raysym.errors import ConfigError, DataError
from tests.test_hls4ml_reader import HOSTILE
from tests.test_hls4ml_reader import write as write_reader_file


def write(path, n_jets=20, seed=0):
    rng = np.random.default_rng(seed)
    pt = -np.sort(-rng.exponential(30.0, (n_jets, 40)) - 1.0, axis=1)
    eta, phi = rng.normal(0, 0.3, pt.shape), rng.normal(0, 0.3, pt.shape)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    momenta = np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2)], axis=-1)
    return write_hls4ml_file(path, momenta, np.arange(n_jets) % 5, compression=None)


@pytest.fixture
def data_dir(tmp_path):
    write(tmp_path / "jetImage_0.h5", seed=0)
    write(tmp_path / "jetImage_1.h5", seed=1)
    return tmp_path


@pytest.fixture
def reader_calls(monkeypatch):
    """Counts the reader calls that ``load_jets`` makes."""
    calls = []
    real = cache.read_hls4ml

    def counting(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "read_hls4ml", counting)
    return calls


def assert_same_jets(a, b):
    for name in ("p4", "mask", "label", "jet_pt", "jet_eta", "jet_mass"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.source == b.source


def test_first_load_writes_the_cache_beside_the_data(data_dir, reader_calls):
    jets = load_jets(data_dir)
    path = cache_path(data_dir)
    assert path.parent == data_dir / ".raysym-cache" and path.is_file()
    assert len(reader_calls) == 1 and len(jets) == 40
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_second_load_is_a_hit_that_does_not_call_the_reader(data_dir, monkeypatch):
    first = load_jets(data_dir)

    def fail(*args, **kwargs):
        raise AssertionError("the reader ran although the cache should have hit")

    monkeypatch.setattr(cache, "read_hls4ml", fail)
    assert_same_jets(load_jets(data_dir), first)


def test_touching_a_data_file_invalidates_the_cache(data_dir, reader_calls):
    load_jets(data_dir)
    stat = (data_dir / "jetImage_1.h5").stat()
    os.utime(data_dir / "jetImage_1.h5", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    load_jets(data_dir)
    assert len(reader_calls) == 2
    load_jets(data_dir)
    assert len(reader_calls) == 2


def test_rewriting_a_data_file_gives_the_new_jets(data_dir):
    load_jets(data_dir)
    write(data_dir / "jetImage_1.h5", n_jets=30, seed=5)
    assert len(load_jets(data_dir)) == 50


def test_adding_a_file_to_the_directory_misses_the_cache(data_dir, reader_calls):
    load_jets(data_dir)
    write(data_dir / "jetImage_2.h5", seed=2)
    assert len(load_jets(data_dir)) == 60 and len(reader_calls) == 2


def test_a_corrupt_cache_file_is_rebuilt(data_dir, reader_calls):
    first = load_jets(data_dir)
    path = cache_path(data_dir)
    path.write_bytes(path.read_bytes()[:200])  # truncated, as by a crash without the atomic rename
    again = load_jets(data_dir)
    assert len(reader_calls) == 2
    assert_same_jets(again, first)
    assert_same_jets(load_jets(data_dir), first)
    assert len(reader_calls) == 2  # the rebuilt file is good


def test_a_cache_with_broken_arrays_is_rebuilt_not_trusted(data_dir, reader_calls):
    first = load_jets(data_dir)
    path = cache_path(data_dir)
    with np.load(path) as npz:
        arrays = dict(npz)
    arrays["label"] = np.full(5, 9, np.int8)  # the key matches, the content does not
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    assert_same_jets(load_jets(data_dir), first)
    assert len(reader_calls) == 2


def test_reader_settings_are_part_of_the_key(data_dir, reader_calls):
    assert cache_path(data_dir) == cache_path(data_dir, n_constituents=32)
    assert cache_path(data_dir) != cache_path(data_dir, n_constituents=16)
    assert load_jets(data_dir, max_jets=25).p4.shape == (25, 32, 4)
    assert load_jets(data_dir, n_constituents=16).p4.shape == (40, 16, 4)
    assert load_jets(data_dir).p4.shape == (40, 32, 4)
    assert len(reader_calls) == 3
    load_jets(data_dir, max_jets=25)
    assert len(reader_calls) == 3


def test_a_user_cache_dir_and_a_file_list_are_honoured(data_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cache")
    files = [data_dir / "jetImage_1.h5", data_dir / "jetImage_0.h5"]
    jets = load_jets(files, cache_dir=elsewhere)
    assert cache_path(files, cache_dir=elsewhere).is_file()
    assert not (data_dir / ".raysym-cache").exists()
    assert_same_jets(load_jets(files, cache_dir=elsewhere), jets)


def test_an_unwritable_cache_dir_still_returns_the_jets(data_dir, caplog):
    blocker = data_dir / "a-file"
    blocker.write_text("")
    jets = load_jets(data_dir, cache_dir=blocker / "cache")
    assert len(jets) == 40
    assert "could not write jet cache" in caplog.text


def test_an_unknown_reader_setting_is_a_config_error(data_dir):
    with pytest.raises(ConfigError, match="n_particles"):
        load_jets(data_dir, n_particles=32)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_naming_it_and_nothing_is_cached(tmp_path, case):
    change, wanted = HOSTILE[case]
    write(tmp_path / "jetImage_0.h5", seed=0)
    change(write_reader_file(tmp_path / "jetImage_1.h5", seed=1))
    with pytest.raises(DataError, match=rf"jetImage_1.h5: {wanted}"):
        load_jets(tmp_path)
    assert not (tmp_path / ".raysym-cache").exists()

