"""The ATLAS Top Tagging Open Data Set: its declaration, its reader (MeV (pT, η, φ, E) to GeV (E, px, py, pz),
training weights) and every way a file can be unusable."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import raysym.data.dataset_atlas_top as atlas
from raysym.data.constituent_checks import jet_kinematics
from raysym.data.dataset_atlas_top import ATLAS_TOP, CONSTITUENTS, write_atlas_top_file
from raysym.data.dataset_spec import dataset
from raysym.data.jetset import split, task_view
from raysym.errors import ConfigError, DataError


def make_momenta(n_jets: int, seed: int = 0, max_constituents: int = 60) -> np.ndarray:
    """(n, 60, 4) massless (E, px, py, pz) GeV around η = 0.5, 3 to 60 constituents, zero-padded, unsorted."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(3, max_constituents + 1, n_jets)
    counts[:3] = (45, 32, 5)  # longer than, exactly, and shorter than the 32 kept
    pt = rng.exponential(30.0, (n_jets, max_constituents)) + 1.0
    pt[np.arange(max_constituents)[None, :] >= counts[:, None]] = 0.0
    eta = rng.normal(0.5, 0.3, pt.shape)
    phi = rng.uniform(-np.pi, np.pi, (n_jets, 1)) + rng.normal(0, 0.3, pt.shape)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    momenta = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=-1)
    momenta[pt == 0] = 0.0
    return momenta


def leading(momenta: np.ndarray, n_keep: int = 32) -> np.ndarray:
    """The ``n_keep`` leading (E, px, py, pz) by pT, zero-padded: what the reader must return."""
    pt = np.hypot(momenta[..., 1], momenta[..., 2])
    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_keep]
    out = np.zeros((len(momenta), n_keep, 4))
    out[:, :order.shape[1]] = np.take_along_axis(momenta, order[..., None], axis=1)
    return out


def write(path: Path, n_jets: int = 24, seed: int = 0, labels=None, weights="random", **kwargs) -> Path:
    if labels is None:
        labels = np.arange(n_jets) % 2
    if isinstance(weights, str):
        weights = np.random.default_rng(seed + 100).uniform(0.1, 5.0, n_jets)
    return write_atlas_top_file(path, make_momenta(n_jets, seed), labels, weights, compression=None, **kwargs)


def edit(path: Path, name: str, value=None) -> None:
    """Replace (or, with ``value`` None, delete) one data set of a written file."""
    with h5py.File(path, "a") as f:
        del f[name]
        if value is not None:
            f.create_dataset(name, data=value)


def put(path: Path, name: str, index, value) -> None:
    """Set ``f[name][index] = value`` in a written file."""
    with h5py.File(path, "a") as f:
        f[name][index] = value


def column(path: Path, name: str) -> np.ndarray:
    with h5py.File(path) as f:
        return f[name][()]


def assert_float32_close(got: np.ndarray, want: np.ndarray) -> None:
    """Equal to float32 precision of each constituent's energy: pT, η, φ and E are stored as float32 each."""
    scale = np.abs(want[..., :1]) + 1e-30
    np.testing.assert_array_less(np.abs(got - want) / scale, 1e-6)


# -- the declaration ------------------------------------------------------------------------------------

def test_the_spec_declares_qcd_and_top_one_training_task_and_weights():
    assert dataset("atlas-top") is ATLAS_TOP
    assert ATLAS_TOP.classes == ("qcd", "top")
    assert [(t.name, t.signal, t.background, t.role) for t in ATLAS_TOP.tasks] == [
        ("top_vs_qcd", ("top",), ("qcd",), "in")]
    assert ATLAS_TOP.training_task.title == "top vs QCD"
    assert ATLAS_TOP.weighted is True
    assert ATLAS_TOP.stored_constituents == 200
    assert "ATL-PHYS-PUB-2022-039" in ATLAS_TOP.layout


# -- round trip -----------------------------------------------------------------------------------------

def test_a_hand_written_jet_is_converted_from_mev_pt_eta_phi_to_gev_e_px_py_pz(tmp_path):
    """A file written with h5py alone, not the writer: the reader's conversion against the formulas, E taken
    as stored (the second constituent is massive)."""
    path = tmp_path / "hand.h5"
    pt = np.array([[250_000.0, 40_000.0, 0.0], [90_000.0, 0.0, 0.0]], np.float32)
    eta = np.array([[0.5, -1.2, 0.0], [2.0, 0.0, 0.0]], np.float32)
    phi = np.array([[1.0, -3.0, 0.0], [0.25, 0.0, 0.0]], np.float32)
    energy = (pt.astype(np.float64) * np.cosh(eta) * [[1.0, 1.5, 1.0], [1.0, 1.0, 1.0]]).astype(np.float32)
    with h5py.File(path, "w") as f:
        for name, values in zip(CONSTITUENTS, (pt, eta, phi, energy)):
            f[name] = values
        f["labels"] = np.array([1, 0], np.int32)
        f["weights"] = np.array([1.0, 2.5], np.float32)
        f["fjet_pt"] = np.array([280_000.0, 90_000.0], np.float32)
        f["fjet_eta"] = np.array([0.4, 2.0], np.float32)
        f["fjet_m"] = np.array([172_500.0, 0.0], np.float32)
    jets = ATLAS_TOP.read(path, n_constituents=4)
    p64, e64 = pt.astype(np.float64) / 1000, energy.astype(np.float64) / 1000
    expected = np.stack([e64, p64 * np.cos(phi), p64 * np.sin(phi), p64 * np.sinh(eta)], axis=-1)
    np.testing.assert_allclose(jets.p4[:, :3], expected.astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(jets.mask, [[True, True, False, False], [True, False, False, False]])
    assert (jets.p4[~jets.mask] == 0).all()
    np.testing.assert_array_equal(jets.label, [1, 0])
    np.testing.assert_array_equal(jets.weight, np.array([1.0, 2.5], np.float32))
    np.testing.assert_allclose(jets.jet_pt, [280.0, 90.0], rtol=1e-7)
    np.testing.assert_allclose(jets.jet_eta, [0.4, 2.0], rtol=1e-7)
    np.testing.assert_allclose(jets.jet_mass, [172.5, 0.0], rtol=1e-7)
    assert jets.classes == ("qcd", "top") and jets.dataset == "atlas-top"


def test_the_writer_stores_mev_pt_eta_phi_e_sorted_and_zero_padded(tmp_path):
    momenta = make_momenta(6)
    path = write_atlas_top_file(tmp_path / "a.h5", momenta, np.arange(6) % 2, None, compression=None)
    pt = column(path, "fjet_clus_pt")
    assert pt.shape == (6, 200) and pt.dtype == np.float32
    assert (np.diff(pt, axis=1) <= 0).all()
    lead = leading(momenta, 200)
    np.testing.assert_allclose(pt, np.hypot(lead[..., 1], lead[..., 2]) * 1000, rtol=1e-6)
    np.testing.assert_allclose(column(path, "fjet_clus_E"), lead[..., 0] * 1000, rtol=1e-6)
    real = lead[..., 0] > 0
    lead_real = lead[real]
    np.testing.assert_allclose(column(path, "fjet_clus_eta")[real],
                               np.arcsinh(lead_real[:, 3] / np.hypot(lead_real[:, 1], lead_real[:, 2])), rtol=1e-6)
    for name in CONSTITUENTS:
        assert (column(path, name)[~real] == 0).all()
    with h5py.File(path) as f:
        assert "weights" not in f and "training_weights" not in f
        assert list(f.attrs["constit"]) == list(CONSTITUENTS) and f.attrs["num_jets"] == 6


def test_the_reader_round_trips_the_leading_momenta_labels_and_weights(tmp_path):
    momenta = make_momenta(24)
    weights = np.linspace(0.0, 7.0, 24)
    path = write_atlas_top_file(tmp_path / "a.h5", momenta, np.arange(24) % 2, weights, compression=None)
    jets = ATLAS_TOP.read(path)
    assert jets.p4.shape == (24, 32, 4) and jets.p4.dtype == np.float32
    assert_float32_close(jets.p4, leading(momenta))
    np.testing.assert_array_equal(jets.mask, leading(momenta)[..., 0] > 0)
    np.testing.assert_array_equal(jets.label, np.arange(24) % 2)
    np.testing.assert_array_equal(jets.weight, weights.astype(np.float32))
    assert jets.mask[0].all() and jets.mask[1].all() and jets.mask[2].sum() == 5


def test_jet_kinematics_come_from_the_stored_fjet_values_in_gev(tmp_path):
    path = write(tmp_path / "a.h5")
    jets = ATLAS_TOP.read(path)
    np.testing.assert_array_equal(jets.jet_pt, (column(path, "fjet_pt").astype(np.float64) / 1000).astype(np.float32))
    np.testing.assert_array_equal(jets.jet_eta, column(path, "fjet_eta"))
    np.testing.assert_array_equal(jets.jet_mass, (column(path, "fjet_m").astype(np.float64) / 1000).astype(np.float32))
    summed = np.stack(jet_kinematics(jets.p4, jets.mask))
    assert not np.allclose(summed[0], jets.jet_pt)  # the stored jet holds all 60, the kept sum 32


def test_without_stored_jet_kinematics_they_are_summed_from_the_kept_constituents(tmp_path):
    path = write(tmp_path / "a.h5")
    for name in ("fjet_pt", "fjet_eta", "fjet_phi", "fjet_m"):
        edit(path, name)
    jets = ATLAS_TOP.read(path)
    pt, eta, mass = jet_kinematics(jets.p4, jets.mask)
    np.testing.assert_array_equal(jets.jet_pt, pt)
    np.testing.assert_array_equal(jets.jet_eta, eta)
    np.testing.assert_array_equal(jets.jet_mass, mass)


def test_a_file_without_weights_gives_every_jet_weight_one(tmp_path):
    jets = ATLAS_TOP.read(write(tmp_path / "test.h5", weights=None))
    assert jets.weighted
    np.testing.assert_array_equal(jets.weight, np.ones(24, np.float32))
    assert all(part.weighted for part in split(jets, seed=0).values())


def test_the_2024_training_weights_name_is_read(tmp_path):
    weights = np.arange(24, dtype=float)
    path = write(tmp_path / "train_nominal_000.h5", weights=weights, weight_name="training_weights")
    np.testing.assert_array_equal(ATLAS_TOP.read(path).weight, weights.astype(np.float32))
    with pytest.raises(ConfigError, match="weight_name"):
        write(tmp_path / "b.h5", weight_name="w")


def test_an_unsorted_file_is_sorted_by_decreasing_pt(tmp_path):
    path = write(tmp_path / "a.h5")
    reference = ATLAS_TOP.read(path)
    order = np.random.default_rng(1).permutation(200)
    for name in CONSTITUENTS:
        edit(path, name, column(path, name)[:, order])
    jets = ATLAS_TOP.read(path)
    np.testing.assert_array_equal(jets.p4, reference.p4)
    np.testing.assert_array_equal(jets.mask, reference.mask)


def test_n_constituents_and_max_jets_are_honoured(tmp_path):
    momenta = make_momenta(24)
    path = write_atlas_top_file(tmp_path / "a.h5", momenta, np.arange(24) % 2, np.ones(24), compression=None)
    wide = ATLAS_TOP.read(path, n_constituents=64)
    assert wide.p4.shape == (24, 64, 4)
    assert_float32_close(wide.p4[:, :60], leading(momenta, 60))
    assert not wide.mask[:, 60:].any()
    assert len(ATLAS_TOP.read(path, max_jets=10)) == 10
    with pytest.raises(ConfigError, match="n_constituents"):
        ATLAS_TOP.read(path, n_constituents=0)
    with pytest.raises(ConfigError, match="max_jets"):
        ATLAS_TOP.read(path, max_jets=0)


def test_a_directory_is_read_in_sorted_order_and_max_jets_spans_files(tmp_path):
    write(tmp_path / "train_nominal_001.h5", seed=2)
    write(tmp_path / "train_nominal_000.h5", seed=1)
    (tmp_path / "notes.txt").write_text("not picked up")
    assert [p.name for p in ATLAS_TOP.files(tmp_path)] == ["train_nominal_000.h5", "train_nominal_001.h5"]
    first = ATLAS_TOP.read(tmp_path / "train_nominal_000.h5")
    jets = ATLAS_TOP.read(tmp_path)
    assert len(jets) == 48
    np.testing.assert_array_equal(jets.p4[:24], first.p4)
    np.testing.assert_array_equal(jets.weight[:24], first.weight)
    assert len(ATLAS_TOP.read(tmp_path, max_jets=30)) == 30
    assert ATLAS_TOP.count(tmp_path) == 48


def test_reading_in_chunks_gives_the_same_jets(tmp_path, monkeypatch):
    path = write(tmp_path / "a.h5", n_jets=50)
    whole = ATLAS_TOP.read(path)
    monkeypatch.setattr(atlas, "CHUNK_JETS", 7)
    chunked = ATLAS_TOP.read(path)
    for name in ("p4", "mask", "label", "weight", "jet_pt"):
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name))


def test_the_task_view_holds_both_classes(tmp_path):
    view = task_view(ATLAS_TOP.read(write(tmp_path / "a.h5")), "top_vs_qcd")
    assert len(view) == 24 and view.weight is not None


# -- malformed input: one DataError naming the file and the problem ---------------------------------------

def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "a.h5"
    path.write_text("plain text")
    with pytest.raises(DataError, match="a.h5: not an HDF5 file$"):
        ATLAS_TOP.read(path)


def test_a_gzip_compressed_file_is_refused_with_a_hint(tmp_path):
    source = write(tmp_path / "a.h5")
    zipped = tmp_path / "train_nominal_000.h5"
    with open(source, "rb") as raw, gzip.open(zipped, "wb") as packed:
        shutil.copyfileobj(raw, packed)
    with pytest.raises(DataError, match="train_nominal_000.h5: not an HDF5 file; it is gzip-compressed"):
        ATLAS_TOP.read(zipped)
    folder = tmp_path / "packed"
    folder.mkdir()
    zipped.rename(folder / "train_nominal_000.h5.gz")
    with pytest.raises(DataError, match="no \\*.h5 files in this directory; it holds 1 gzip-compressed"):
        ATLAS_TOP.read(folder)


def test_a_missing_file_and_an_empty_directory_are_refused(tmp_path):
    with pytest.raises(DataError, match="x.h5: no such file"):
        ATLAS_TOP.read(tmp_path / "x.h5")
    with pytest.raises(DataError, match=r"no \*.h5 files in this directory$"):
        ATLAS_TOP.read(tmp_path)


@pytest.mark.parametrize("name", ["fjet_clus_pt", "fjet_clus_E", "labels"])
def test_a_missing_data_set_is_refused(tmp_path, name):
    path = write(tmp_path / "a.h5")
    edit(path, name)
    with pytest.raises(DataError, match=f"a.h5: missing dataset '{name}'"):
        ATLAS_TOP.inspect(path)


def test_jet_kinematics_partly_stored_are_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    edit(path, "fjet_m")
    with pytest.raises(DataError, match="a.h5: has fjet_pt, fjet_eta but lacks fjet_m"):
        ATLAS_TOP.inspect(path)


@pytest.mark.parametrize("name, value, wanted", [
    ("labels", np.array(["a"] * 24, dtype="S1"), r"labels has dtype \|S1"),
    ("fjet_clus_eta", np.zeros((24, 200), complex), "fjet_clus_eta has dtype complex128"),
    ("weights", np.array(["1"] * 24, dtype="S1"), r"weights has dtype \|S1"),
])
def test_a_data_set_of_the_wrong_type_is_refused_by_the_header_check(tmp_path, name, value, wanted):
    path = write(tmp_path / "a.h5")
    edit(path, name, value)
    with pytest.raises(DataError, match=f"a.h5: {wanted}"):
        ATLAS_TOP.inspect(path)


@pytest.mark.parametrize("name, value, wanted", [
    ("labels", np.zeros(20), "labels has 20 entries but fjet_clus_pt has 24 jets"),
    ("weights", np.ones(25), "weights has 25 entries but fjet_clus_pt has 24 jets"),
    ("fjet_pt", np.ones(23), "fjet_pt has 23 entries but fjet_clus_pt has 24 jets"),
    ("fjet_clus_eta", np.zeros((24, 100)), r"fjet_clus_eta has shape \(24, 100\) but fjet_clus_pt has \(24, 200\)"),
    ("fjet_clus_E", np.zeros((23, 200)), r"fjet_clus_E has shape \(23, 200\) but fjet_clus_pt has \(24, 200\)"),
    ("labels", np.zeros((24, 2)), r"labels has shape \(24, 2\), expected one value per jet"),
])
def test_data_sets_of_mismatched_lengths_are_refused(tmp_path, name, value, wanted):
    path = write(tmp_path / "a.h5")
    edit(path, name, value)
    with pytest.raises(DataError, match=f"a.h5: {wanted}"):
        ATLAS_TOP.inspect(path)


def test_a_file_of_no_jets_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    for name in CONSTITUENTS:
        edit(path, name, np.zeros((0, 200), np.float32))
    with pytest.raises(DataError, match="the file holds no jets"):
        ATLAS_TOP.inspect(path)


@pytest.mark.parametrize("name", CONSTITUENTS)
@pytest.mark.parametrize("value, kind", [(np.nan, "2 jet\\(s\\) with NaN and 0 with infinite"),
                                         (np.inf, "0 jet\\(s\\) with NaN and 2 with infinite")])
def test_non_finite_constituents_are_refused_naming_the_first_jet(tmp_path, name, value, kind):
    path = write(tmp_path / "a.h5")
    put(path, name, (3, 1), value)
    put(path, name, (7, 150), value)  # a padded slot counts too
    with pytest.raises(DataError, match=f"a.h5: {kind} .*first: jet 3"):
        ATLAS_TOP.read(path)


def test_an_eta_too_large_for_a_finite_pz_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    put(path, "fjet_clus_eta", (5, 0), 1e30)
    with pytest.raises(DataError, match="a.h5: 0 jet\\(s\\) with NaN and 1 with infinite .*first: jet 5"):
        ATLAS_TOP.read(path)


def test_a_negative_pt_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    put(path, "fjet_clus_pt", (4, 2), -10.0)
    with pytest.raises(DataError, match="a.h5: jet 4 has a constituent 2 with pT = -10 MeV"):
        ATLAS_TOP.read(path)


def test_an_energy_below_the_momentum_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    put(path, "fjet_clus_E", (9, 0), column(path, "fjet_clus_pt")[9, 0] * 0.5)
    with pytest.raises(DataError, match="a.h5: jet 9 has an unphysical constituent 0"):
        ATLAS_TOP.read(path)


@pytest.mark.parametrize("value, shown", [(-0.5, "-0.5"), (np.nan, "nan"), (np.inf, "inf")])
def test_a_weight_that_is_negative_or_not_finite_is_refused_naming_the_jet(tmp_path, value, shown):
    path = write(tmp_path / "a.h5")
    put(path, "weights", 13, value)
    with pytest.raises(DataError, match=f"a.h5: jet 13 has weights = {shown}; a training weight must be finite"):
        ATLAS_TOP.read(path)


def test_a_jet_without_constituents_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    for name in CONSTITUENTS:
        put(path, name, 11, 0.0)
    with pytest.raises(DataError, match="a.h5: jet 11 has no constituents with pT > 0"):
        ATLAS_TOP.read(path)


@pytest.mark.parametrize("value", [2, -1, 0.5])
def test_a_label_other_than_0_or_1_is_refused_naming_the_jet(tmp_path, value):
    path = write(tmp_path / "a.h5")
    labels = column(path, "labels").astype(np.float64)
    labels[6] = value
    edit(path, "labels", labels)
    with pytest.raises(DataError, match=f"a.h5: jet 6 has label {value!r}"):
        ATLAS_TOP.read(path)


def test_float_labels_of_0_and_1_are_read(tmp_path):
    path = write(tmp_path / "a.h5")
    edit(path, "labels", column(path, "labels").astype(np.float32))
    np.testing.assert_array_equal(ATLAS_TOP.read(path).label, np.arange(24) % 2)


@pytest.mark.parametrize("label, held", [(0, "qcd"), (1, "top")])
def test_a_single_class_is_refused(tmp_path, label, held):
    path = write(tmp_path / "a.h5", labels=np.full(24, label))
    with pytest.raises(DataError, match=f"a.h5: all 24 jets read are '{held}'.*needs both classes"):
        ATLAS_TOP.read(path)


def test_jet_kinematics_beyond_float32_are_refused_naming_the_jet(tmp_path):
    path = write(tmp_path / "a.h5")
    put(path, "fjet_m", 12, np.inf)
    with pytest.raises(DataError, match="a.h5: jet 12 has fjet_m = inf, not a finite float32"):
        ATLAS_TOP.read(path)


# -- the same jets twice, mixed weighting, impossible sizes -------------------------------------------------

def test_a_file_listed_twice_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    with pytest.raises(DataError, match="a.h5: listed twice"):
        ATLAS_TOP.read([path, tmp_path / "." / "a.h5"])


def test_two_files_of_the_same_jets_are_refused_before_any_jet_is_read(tmp_path):
    a = write(tmp_path / "a.h5", seed=3)
    b = tmp_path / "b.h5"
    shutil.copy(a, b)
    with pytest.raises(DataError, match=r"b.h5: holds the same jets as .*a.h5"):
        ATLAS_TOP.inspect([a, b])


def test_a_jet_repeated_inside_a_file_is_refused_naming_both(tmp_path):
    path = write(tmp_path / "a.h5", seed=4)
    for name in CONSTITUENTS + ("fjet_pt", "labels"):
        values = column(path, name)
        values[20] = values[5]
        edit(path, name, values)
    with pytest.raises(DataError, match=r"a.h5: jet 20 is the same jet as jet 5 of .*a.h5"):
        ATLAS_TOP.read(path)


def test_weighted_and_unweighted_files_are_not_read_together(tmp_path):
    train = write(tmp_path / "train.h5", seed=1)
    test = write(tmp_path / "test.h5", seed=2, weights=None)
    with pytest.raises(DataError, match="train.h5 carries training weights but test.h5 has none"):
        ATLAS_TOP.inspect([train, test])


def test_a_file_declaring_a_billion_jets_it_does_not_hold_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:
        for name in CONSTITUENTS:
            f.create_dataset(name, shape=(10**9, 200), dtype="f4", chunks=(1, 200))
        f.create_dataset("labels", shape=(10**9,), dtype="i4", chunks=(1,))
    with pytest.raises(DataError, match=r"huge.h5: fjet_clus_pt declares 1,000,000,000 jets .* stores 0 bytes"):
        ATLAS_TOP.inspect(path)


def test_a_smoke_study_of_the_seal_top_preset_trains_and_scores_weighted(ray_local, tmp_path):
    """The SEAL authors' setup, shrunk: weighted ATLAS-layout jets; the evaluation's ROC-AUC is the weighted
    one of the trial's best model (and differs from the unweighted), and every analysis runs."""
    import torch

    from raysym.metrics import roc_auc
    from raysym.models.predict import predict_logits
    from raysym.stages.jets import run_jets_stage
    from raysym.store import ResultStore
    from raysym.study.pipeline import run_study
    from raysym.study.presets import preset, smoke
    from raysym.training.checkpoint import load_best_model

    folder = tmp_path / "atlas"
    folder.mkdir()
    # Top jets a little harder than QCD, so the tagger has something to learn; weights spread over 0.1..5.
    labels = np.arange(120) % 2
    momenta = make_momenta(120, seed=3)
    momenta[labels == 1] *= 1.5
    write_atlas_top_file(folder / "train.h5", momenta, labels, np.random.default_rng(4).uniform(0.1, 5.0, 120),
                         compression=None)
    seal_top = preset("seal-top")
    config = smoke(seal_top).with_overrides(name="atlas", data={"path": str(folder)}, biases=seal_top.biases[:2],
                                            distillation={"enabled": False})
    outcome = run_study(config, tmp_path / "out", verbose=0, progress=False)
    assert not outcome.errors and outcome.trained == 2
    store = ResultStore(outcome.store_path)
    for table in ("hessian", "goldstone", "smearing", "symmetry", "spectrum"):
        assert set(store.load(table)["trial_id"]) == set(outcome.trial_ids), table
    jets = run_jets_stage(config.data, tmp_path / "out", "top_vs_qcd", ("top_vs_qcd",), progress=False)
    test = jets.test.for_task("top_vs_qcd")
    assert test.weight is not None and len(np.unique(test.weight)) > 1
    trial = store.load("trials").iloc[0]
    model, _, _ = load_best_model(trial["model_path"])
    logits = predict_logits(model, torch.from_numpy(test.p4), torch.from_numpy(test.mask))
    stored = store.load("evaluations").set_index("trial_id").loc[trial["trial_id"], "roc_auc"]
    assert stored == pytest.approx(roc_auc(logits, test.y, test.weight), rel=1e-12)
    assert stored != pytest.approx(roc_auc(logits, test.y), rel=1e-9)
