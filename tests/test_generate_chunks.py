"""Chunks, files and the Ray fan-out (raysym.generate.chunks): physics sanity of a small run,
byte-identical files whatever runs them, resuming, and refusing to mix runs."""

import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from raysym.data.hls4ml_layout import CLASS_NAMES, JET_FEATURE_NAMES
from raysym.errors import ConfigError
from raysym.generate.chunks import TRUTH_PDG_DATASET, chunk_path, generate, generate_chunk
from raysym.generate.config import GeneratorConfig

CONFIG = GeneratorConfig(jets_per_class=30, seed=0, chunk_size=30)


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    start = time.perf_counter()
    paths = generate(CONFIG, out, progress=False)
    return out, paths, time.perf_counter() - start


def _read(path):
    with h5py.File(path) as f:
        return f["jetConstituentList"][:], f["jets"][:], f[TRUTH_PDG_DATASET][:]


def _mass(p4):
    return np.sqrt(np.clip(p4[..., 3] ** 2 - (p4[..., :3] ** 2).sum(-1), 0, None))


def test_small_run_makes_thirty_jets_of_every_class_within_a_minute(run):
    out, paths, seconds = run
    assert seconds < 60
    assert [Path(p).name for p in paths] == [f"jetImage_gen_{c}_s0_c0000.h5" for c in CLASS_NAMES]
    for label, path in enumerate(paths):
        constituents, jets, truth = _read(path)
        assert constituents.shape == (30, 150, 16) and truth.shape == (30,)
        one_hot = jets[:, JET_FEATURE_NAMES.index("j_g"):JET_FEATURE_NAMES.index("j_undef") + 1]
        assert np.all(one_hot.argmax(1) == label) and np.all(one_hot.sum(1) == 1)
        pt = constituents[..., 5]
        assert np.all(np.diff(pt, axis=1) <= 0)  # descending pT, padding last
        assert np.all(jets[:, JET_FEATURE_NAMES.index("j_multiplicity")] >= (pt > 0).sum(1))
    assert set(np.abs(_read(paths[1])[2])) <= {1, 2, 3}


@pytest.mark.parametrize("name, low, high", [("w", 65, 105), ("z", 75, 115), ("t", 150, 210)])
def test_boson_and_top_jet_masses_from_32_constituents_peak_where_expected(run, name, low, high):
    constituents = _read(run[1][CLASS_NAMES.index(name)])[0]
    mass = _mass(constituents[:, :32, :4].sum(1))
    assert low < np.median(mass) < high


def test_same_seed_gives_byte_identical_files_with_or_without_ray(run, tmp_path):
    out, paths, _ = run
    again = generate_chunk(CONFIG, "w", 0, tmp_path)
    assert Path(again).read_bytes() == Path(chunk_path(out, "w", 0, 0)).read_bytes()


def test_rerun_skips_existing_chunks_and_redoes_missing_ones(run):
    out, paths, _ = run
    paths = [Path(p) for p in paths]
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    z_file = Path(chunk_path(out, "z", 0, 0))
    z_bytes = z_file.read_bytes()
    z_file.unlink()
    generate(CONFIG, out, progress=False)
    assert z_file.read_bytes() == z_bytes
    assert all(p.stat().st_mtime_ns == stamps[p] for p in paths if p != z_file)


def test_rerun_with_other_settings_in_the_same_directory_is_refused(run):
    other = GeneratorConfig(jets_per_class=30, seed=0, chunk_size=30, mpi=False)
    with pytest.raises(ConfigError, match="mpi differ"):
        generate(other, run[0], progress=False)


def test_the_same_jets_in_the_top_tagging_layout_read_as_qcd_and_top(run, tmp_path):
    """The top-tagging layout holds the very jets the hls4ml files hold (the same seeds), light quarks as QCD
    and tops as signal; the reader of that data set reads them."""
    from raysym.data.dataset_toptag import TOPTAG
    from raysym.data.hls4ml_reader import read_hls4ml

    config = GeneratorConfig(jets_per_class=30, seed=0, chunk_size=30, classes=("q", "t"))
    paths = generate(config, tmp_path / "toptag", use_ray=False, progress=False, layout="toptag")
    assert [Path(p).name for p in paths] == ["toptag_gen_q_s0_c0000.h5", "toptag_gen_t_s0_c0000.h5"]
    jets = TOPTAG.read(tmp_path / "toptag")
    assert jets.dataset == "toptag" and jets.class_counts() == {"qcd": 30, "top": 30}
    hls4ml = read_hls4ml([chunk_path(run[0], c, 0, 0) for c in ("q", "t")])
    np.testing.assert_allclose(jets.p4, hls4ml.p4, rtol=1e-6, atol=1e-4)  # float32 both ways
    assert (jets.label == (hls4ml.label == CLASS_NAMES.index("t"))).all()
    with pytest.raises(ConfigError, match="top jets against light-quark or gluon jets"):
        generate(GeneratorConfig(jets_per_class=30, classes=("w", "t")), tmp_path / "bad", layout="toptag")
    with pytest.raises(ConfigError, match="unknown generator layout 'root'"):
        generate(config, tmp_path / "bad", layout="root")
