"""Reading hls4ml-layout files (docs/methods.md §1.2) into a JetSet (§1.1), and rejecting malformed ones."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from raysym.data.hls4ml_layout import JET_FEATURE_NAMES, PARTICLE_FEATURE_NAMES, write_hls4ml_file
from raysym.data.constituent_checks import MAX_CONSTITUENT_ENERGY, MAX_JET_RAPIDITY
from raysym.data.hls4ml_reader import inspect_hls4ml, read_hls4ml, resolve_files
from raysym.data.jetset import task_view
from raysym.errors import ConfigError, DataError


def make_momenta(n_jets: int, seed: int = 0, max_constituents: int = 60,
                 shuffle: bool = False) -> np.ndarray:
    """(n, 60, 4) px, py, pz, e around η = φ = 0, 1 to 60 constituents, sorted by pT unless shuffled."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_constituents + 1, n_jets)
    counts[:3] = (45, 32, 5)  # longer than, exactly, and shorter than 32
    pt = -np.sort(-rng.exponential(30.0, (n_jets, max_constituents)) - 1.0, axis=1)
    pt[np.arange(max_constituents)[None, :] >= counts[:, None]] = 0.0
    if shuffle:
        pt = rng.permuted(pt, axis=1)
    eta, phi = rng.normal(0, 0.3, pt.shape), rng.normal(0, 0.3, pt.shape)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    momenta = np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2)], axis=-1)
    momenta[pt == 0] = 0.0
    return momenta


def expected_p4(momenta: np.ndarray, n_keep: int = 32) -> np.ndarray:
    """The leading ``n_keep`` constituents by pT in (E, px, py, pz), float32, zero-padded."""
    pt = np.hypot(momenta[..., 0], momenta[..., 1])
    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_keep]
    lead = np.take_along_axis(momenta, order[..., None], axis=1)
    out = np.zeros((len(momenta), n_keep, 4), np.float32)
    out[:, :lead.shape[1]] = lead[..., [3, 0, 1, 2]]
    return out


def write(path: Path, n_jets: int = 25, seed: int = 0, shuffle: bool = False, labels=None) -> Path:
    momenta = make_momenta(n_jets, seed, shuffle=shuffle)
    if labels is None:
        labels = np.arange(n_jets) % 5
    return write_hls4ml_file(path, momenta, labels, compression=None)


def edit(path: Path, dataset: str, value=None) -> None:
    """Replace (or, with ``value`` None, delete) one dataset of a written file."""
    with h5py.File(path, "a") as f:
        del f[dataset]
        if value is not None:
            f.create_dataset(dataset, data=value)


def retype(dataset: str, dtype):
    """An edit that stores ``dataset`` again with the element type ``dtype``."""
    def apply(path: Path) -> None:
        with h5py.File(path) as f:
            value = f[dataset][()]
        edit(path, dataset, value.astype(dtype))
    return apply


def put_jet(jet: int, *constituents) -> callable:
    """An edit that makes jet ``jet`` hold only ``constituents``, each (px, py, pz, e)."""
    def apply(path: Path) -> None:
        with h5py.File(path, "a") as f:
            f["jetConstituentList"][jet] = 0.0
            for i, p4 in enumerate(constituents):
                f["jetConstituentList"][jet, i, :4] = p4
    return apply


def put_constituent(jet: int, constituent: int, p4) -> callable:
    """An edit that replaces one constituent's (px, py, pz, e)."""
    def apply(path: Path) -> None:
        with h5py.File(path, "a") as f:
            f["jetConstituentList"][jet, constituent, :4] = p4
    return apply


def along_z(pt: float, rapidity: float) -> tuple[float, float, float, float]:
    """A massless (px, py, pz, e) of transverse momentum ``pt`` at pseudorapidity ``rapidity``."""
    return (pt, 0.0, pt * np.sinh(rapidity), pt * np.cosh(rapidity))


#: Hostile edits of a file written by :func:`write` (25 jets), each with what its one DataError must say
#: after the file's name: the jet (or the data set and its dtype) and the offending value.
HOSTILE = {
    "string constituents": (retype("jetConstituentList", "S8"), r"jetConstituentList has dtype \|S8"),
    "complex constituents": (retype("jetConstituentList", complex), "jetConstituentList has dtype complex128"),
    "string jets": (retype("jets", "S8"), r"jets has dtype \|S8"),
    "numeric names": (lambda path: edit(path, "jetFeatureNames", np.arange(59.0)),
                      "jetFeatureNames has dtype float64, expected strings"),
    "beyond float32": (put_constituent(9, 1, (1e39, 0.0, 0.0, 1e39)), r"jet 9 has a constituent 1 with E = 1e\+39 GeV"),
    "near 1e37": (put_constituent(9, 1, (1e37, 1e37, 1e37, 2e37)), r"jet 9 has a constituent 1 with E = 2e\+37 GeV"),
    "pz = E = 1e30": (put_constituent(9, 1, (50.0, 0.0, 1e30, 1e30)), r"jet 9 has a constituent 1 with E = 1e\+30 GeV"),
    "just above the LHC": (put_constituent(9, 1, along_z(100.0, np.arccosh(140.01))),
                           r"jet 9 has a constituent 1 with E = 14001 GeV, above 14,000 GeV"),
    "jet along the beam": (put_jet(9, along_z(1.0, 9.9)), r"jet 9 has rapidity y = inf"),
    "jet beyond the detectors": (put_jet(9, along_z(10.0, 6.0)), r"jet 9 has rapidity y = 6 "),
}


# -- round trip -------------------------------------------------------------------------------------

def test_reader_round_trips_momenta_in_e_px_py_pz_order(tmp_path):
    momenta = make_momenta(25)
    path = write_hls4ml_file(tmp_path / "jetImage_a.h5", momenta, np.arange(25) % 5, compression=None)
    jets = read_hls4ml(path)
    assert jets.p4.shape == (25, 32, 4) and jets.p4.dtype == np.float32
    np.testing.assert_allclose(jets.p4, expected_p4(momenta), rtol=1e-6)
    np.testing.assert_array_equal(jets.p4[0, :, 0], momenta[0, :32, 3].astype(np.float32))
    np.testing.assert_array_equal(jets.p4[0, :, 1], momenta[0, :32, 0].astype(np.float32))


def test_reader_truncates_long_jets_and_pads_short_ones_with_a_mask(tmp_path):
    jets = read_hls4ml(write(tmp_path / "jetImage_a.h5"))
    assert jets.mask[0].all()  # 45 constituents, 32 kept
    assert jets.mask[1].all()  # exactly 32
    assert jets.mask[2].sum() == 5 and jets.mask[2, :5].all()
    assert (jets.p4[2, 5:] == 0).all()
    np.testing.assert_array_equal(jets.mask, np.hypot(jets.p4[..., 1], jets.p4[..., 2]) > 0)


def test_reader_sorts_an_unsorted_file_by_descending_pt(tmp_path):
    momenta = make_momenta(25, shuffle=True)
    path = write_hls4ml_file(tmp_path / "jetImage_a.h5", momenta, np.zeros(25, int), compression=None)
    jets = read_hls4ml(path)
    pt = np.hypot(jets.p4[..., 1], jets.p4[..., 2])
    assert (np.diff(pt, axis=1) <= 0).all()
    np.testing.assert_allclose(jets.p4, expected_p4(momenta), rtol=1e-6)


def test_reader_takes_labels_and_jet_kinematics_from_the_jets_dataset(tmp_path):
    path = write(tmp_path / "jetImage_a.h5", n_jets=10, labels=[4, 3, 2, 1, 0, 0, 1, 2, 3, 4])
    jets = read_hls4ml(path)
    np.testing.assert_array_equal(jets.label, [4, 3, 2, 1, 0, 0, 1, 2, 3, 4])
    with h5py.File(path) as f:
        table = f["jets"][()]
    for name in ("pt", "eta", "mass"):
        np.testing.assert_array_equal(getattr(jets, f"jet_{name}"),
                                      table[:, JET_FEATURE_NAMES.index(f"j_{name}")].astype(np.float32))


def test_reader_finds_columns_by_name_not_position(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    reference = read_hls4ml(path)
    order = [3, 2, 1, 0] + list(range(4, 16))  # e, pz, py, px first
    with h5py.File(path, "a") as f:
        permuted = f["jetConstituentList"][()][..., order]
        names = np.array([PARTICLE_FEATURE_NAMES[i] for i in order] + ["j1_pdgid"], dtype="S")
    edit(path, "jetConstituentList", permuted)
    edit(path, "particleFeatureNames", names)
    np.testing.assert_array_equal(read_hls4ml(path).p4, reference.p4)


def test_reader_reads_a_directory_in_sorted_order_and_honours_max_jets(tmp_path):
    write(tmp_path / "jetImage_b.h5", n_jets=7, seed=2)
    write(tmp_path / "jetImage_a.h5", n_jets=5, seed=1)
    (tmp_path / "other.h5").write_bytes(b"not picked up")
    assert [p.name for p in resolve_files(tmp_path)] == ["jetImage_a.h5", "jetImage_b.h5"]
    jets = read_hls4ml(tmp_path)
    first = read_hls4ml(tmp_path / "jetImage_a.h5")
    assert len(jets) == 12
    np.testing.assert_array_equal(jets.p4[:5], first.p4)
    assert len(read_hls4ml(tmp_path, max_jets=8)) == 8
    listed = read_hls4ml([tmp_path / "jetImage_b.h5", tmp_path / "jetImage_a.h5"], max_jets=9)
    np.testing.assert_array_equal(listed.p4[7:], first.p4[:2])


def test_reader_reads_in_chunks_with_the_same_result(tmp_path, monkeypatch):
    import raysym.data.hls4ml_reader as reader

    path = write(tmp_path / "jetImage_a.h5", n_jets=50)
    whole = read_hls4ml(path)
    monkeypatch.setattr(reader, "CHUNK_JETS", 7)
    chunked = read_hls4ml(path)
    np.testing.assert_array_equal(chunked.p4, whole.p4)
    np.testing.assert_array_equal(chunked.label, whole.label)


def test_reader_honours_n_constituents(tmp_path):
    momenta = make_momenta(10)
    path = write_hls4ml_file(tmp_path / "jetImage_a.h5", momenta, np.zeros(10, int), compression=None)
    jets = read_hls4ml(path, n_constituents=64)
    assert jets.p4.shape == (10, 64, 4)
    np.testing.assert_allclose(jets.p4[:, :60], expected_p4(momenta, 60), rtol=1e-6)
    with pytest.raises(ConfigError, match="n_constituents"):
        read_hls4ml(path, n_constituents=0)


# -- malformed input --------------------------------------------------------------------------------

def test_reader_rejects_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="jetImage_x.h5: no such file"):
        read_hls4ml(tmp_path / "jetImage_x.h5")


def test_reader_rejects_a_directory_without_matching_files(tmp_path):
    with pytest.raises(DataError, match=r"no jetImage_\*.h5 files"):
        read_hls4ml(tmp_path)


def test_reader_rejects_a_file_that_is_not_hdf5(tmp_path):
    path = tmp_path / "jetImage_a.h5"
    path.write_bytes(b"plain text")
    with pytest.raises(DataError, match="jetImage_a.h5: not an HDF5 file"):
        read_hls4ml(path)


@pytest.mark.parametrize("dataset", ["jets", "jetConstituentList", "particleFeatureNames"])
def test_reader_rejects_a_missing_dataset(tmp_path, dataset):
    path = write(tmp_path / "jetImage_a.h5")
    edit(path, dataset)
    with pytest.raises(DataError, match=f"jetImage_a.h5: missing dataset '{dataset}'"):
        read_hls4ml(path)


def test_reader_rejects_constituents_of_the_wrong_shape(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    edit(path, "jetConstituentList", np.zeros((25, 150 * 16)))
    with pytest.raises(DataError, match=r"jetImage_a.h5: jetConstituentList has shape \(25, 2400\)"):
        read_hls4ml(path)


def test_reader_rejects_jets_and_constituents_with_different_jet_counts(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path) as f:
        table = f["jets"][()]
    edit(path, "jets", table[:20])
    with pytest.raises(DataError, match="jets has 20 rows but jetConstituentList has 25 jets"):
        read_hls4ml(path)


def test_reader_rejects_a_wrong_number_of_columns(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path) as f:
        constituents = f["jetConstituentList"][()]
    edit(path, "jetConstituentList", constituents[..., :10])
    with pytest.raises(DataError, match="particleFeatureNames has 17 names for the 10 columns"):
        read_hls4ml(path)


@pytest.mark.parametrize("dataset, old, new", [
    ("particleFeatureNames", "j1_px", "px"),
    ("jetFeatureNames", "j_w", "j_W"),
    ("jetFeatureNames", "j_mass", "j_pt"),
])
def test_reader_rejects_feature_names_that_do_not_match_the_layout(tmp_path, dataset, old, new):
    path = write(tmp_path / "jetImage_a.h5")
    names = list(PARTICLE_FEATURE_NAMES if dataset == "particleFeatureNames" else JET_FEATURE_NAMES)
    names[names.index(old)] = new
    edit(path, dataset, np.array(names, dtype="S"))
    with pytest.raises(DataError, match=f"jetImage_a.h5: {dataset} (lacks|repeats) '(j1_px|j_w|j_pt)'"):
        read_hls4ml(path)


@pytest.mark.parametrize("value, kind", [(np.nan, "2 jet\\(s\\) with NaN and 0 with infinite"),
                                         (np.inf, "0 jet\\(s\\) with NaN and 2 with infinite")])
def test_reader_rejects_non_finite_momenta_counting_the_jets(tmp_path, value, kind):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path, "a") as f:
        f["jetConstituentList"][3, 0, 0] = value
        f["jetConstituentList"][7, 2, 3] = value
    with pytest.raises(DataError, match=f"jetImage_a.h5: {kind} .*first: jet 3"):
        read_hls4ml(path)


def test_reader_rejects_a_jet_with_no_constituents_naming_it(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path, "a") as f:
        f["jetConstituentList"][11] = 0.0
    with pytest.raises(DataError, match="jetImage_a.h5: jet 11 has no constituents"):
        read_hls4ml(path)


@pytest.mark.parametrize("row, problem", [
    ([0, 0, 0, 0, 0], "no class label"),
    ([1, 0, 1, 0, 0], "several class labels"),
    ([0.5, 0, 0, 0, 0], "label columns other than 0/1"),
])
def test_reader_rejects_a_bad_label_naming_the_jet(tmp_path, row, problem):
    path = write(tmp_path / "jetImage_a.h5")
    start = JET_FEATURE_NAMES.index("j_g")
    with h5py.File(path, "a") as f:
        f["jets"][6, start:start + 5] = row
    with pytest.raises(DataError, match=f"jetImage_a.h5: jet 6 has {problem}"):
        read_hls4ml(path)


def test_a_task_whose_class_the_file_lacks_is_a_data_error(tmp_path):
    path = write(tmp_path / "jetImage_a.h5", n_jets=10, labels=[0, 1, 2, 4, 0, 1, 2, 4, 0, 1])
    jets = read_hls4ml(path)
    assert len(task_view(jets, "g_vs_w")) == 5
    with pytest.raises(DataError, match="task 'g_vs_z' needs class 'z'.*jetImage_a.h5"):
        task_view(jets, "g_vs_z")


# -- the same jets twice, unphysical momenta, impossible sizes -----------------------------------------

def test_a_directory_gives_its_150_particle_files_and_not_the_smaller_versions_of_the_same_jets(tmp_path):
    write(tmp_path / "jetImage_7_150p_0_10000.h5", seed=1)
    write(tmp_path / "jetImage_7_30p_0_10000.h5", seed=1)
    write(tmp_path / "jetImage_gen_w_s0_c0000.h5", seed=2)
    assert [p.name for p in resolve_files(tmp_path)] == ["jetImage_7_150p_0_10000.h5", "jetImage_gen_w_s0_c0000.h5"]
    assert len(read_hls4ml(tmp_path)) == 2 * 25
    assert [p.name for p in resolve_files(tmp_path, particles=30)] == ["jetImage_7_30p_0_10000.h5",
                                                                     "jetImage_gen_w_s0_c0000.h5"]


def test_a_directory_with_only_other_versions_names_what_it_holds(tmp_path):
    write(tmp_path / "jetImage_7_30p_0_10000.h5")
    with pytest.raises(DataError, match=r"no 150-particle files \(the files here are 30p\)"):
        read_hls4ml(tmp_path)


def test_a_file_listed_twice_is_refused(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with pytest.raises(DataError, match="jetImage_a.h5: listed twice"):
        read_hls4ml([path, tmp_path / "." / "jetImage_a.h5"])


def test_two_files_of_the_same_jets_are_refused_before_any_jet_is_read(tmp_path):
    a = write(tmp_path / "jetImage_a.h5", seed=3)
    b = write(tmp_path / "jetImage_b.h5", seed=3)
    with pytest.raises(DataError, match=r"jetImage_b.h5: holds the same jets as .*jetImage_a.h5"):
        inspect_hls4ml([a, b])


def test_a_jet_repeated_inside_the_data_is_refused_naming_both_places(tmp_path):
    path = write(tmp_path / "jetImage_a.h5", seed=4)
    with h5py.File(path, "a") as f:
        f["jetConstituentList"][20] = f["jetConstituentList"][5]
        f["jets"][20] = f["jets"][5]
    with pytest.raises(DataError, match=r"jetImage_a.h5: jet 20 is the same jet as jet 5 of .*jetImage_a.h5"):
        read_hls4ml(path)


@pytest.mark.parametrize("energy, wanted", [(-3.0, "E = -3 GeV"), ("half", r"E = [0-9.]+ GeV and \|p\| = ")])
def test_unphysical_four_momenta_are_refused_naming_the_first_jet(tmp_path, energy, wanted):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path, "a") as f:
        row = f["jetConstituentList"][9]
        row[1, 3] = energy if energy != "half" else 0.5 * np.linalg.norm(row[1, :3])
        f["jetConstituentList"][9] = row
    with pytest.raises(DataError, match=rf"jetImage_a.h5: jet 9 has an unphysical constituent 1 with {wanted}"):
        read_hls4ml(path)


def test_massless_constituents_at_the_files_rounding_are_physical(tmp_path):
    momenta = make_momenta(10, seed=5)
    momenta[..., 3] *= 1 - 1e-6  # E a hair below |p|: float rounding of a massless particle
    path = write_hls4ml_file(tmp_path / "jetImage_a.h5", momenta, np.arange(10) % 5, compression=None)
    assert len(read_hls4ml(path)) == 10


def test_a_file_declaring_a_billion_jets_it_does_not_hold_is_refused_before_allocating(tmp_path):
    path = tmp_path / "jetImage_huge.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("jetConstituentList", shape=(10**9, 150, 16), dtype="f8", chunks=(1, 150, 16))
        f.create_dataset("jets", shape=(10**9, 59), dtype="f8", chunks=(1, 59))
        f["particleFeatureNames"] = np.array(PARTICLE_FEATURE_NAMES, dtype="S")
        f["jetFeatureNames"] = np.array(JET_FEATURE_NAMES, dtype="S")
    with pytest.raises(DataError, match=r"jetImage_huge.h5: jetConstituentList declares 1,000,000,000 jets .* "
                                        r"stores 0 bytes; the file is incomplete or corrupt"):
        inspect_hls4ml(path)


# -- hostile inputs: one DataError naming the file and the jet, never a traceback or a late NaN ------------

@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_one_data_error_naming_the_file_and_the_jet(tmp_path, case):
    change, wanted = HOSTILE[case]
    path = write(tmp_path / "jetImage_a.h5")
    change(path)
    with pytest.raises(DataError, match=rf"jetImage_a.h5: {wanted}"):
        read_hls4ml(path)


@pytest.mark.parametrize("case", ["string constituents", "complex constituents", "string jets", "numeric names"])
def test_a_data_set_of_the_wrong_type_is_refused_by_the_header_check(tmp_path, case):
    change, wanted = HOSTILE[case]
    path = write(tmp_path / "jetImage_a.h5")
    change(path)
    with pytest.raises(DataError, match=rf"jetImage_a.h5: {wanted}"):
        inspect_hls4ml(path)  # what a study runs before Ray starts: headers only


def test_integer_momenta_are_numbers_and_read(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path) as f:
        columns = f["jetConstituentList"][()]
    whole = np.trunc(columns)
    whole[..., 3] = np.ceil(columns[..., 3])  # momenta rounded down, energies up: still E >= |p|
    edit(path, "jetConstituentList", whole.astype(np.int64))
    jets = read_hls4ml(path)
    assert len(jets) == 25 and (jets.p4 == np.round(jets.p4)).all()


def test_a_constituent_at_the_lhc_energy_and_a_jet_at_the_rapidity_bound_are_read(tmp_path):
    edge = along_z(100.0, np.arccosh(0.999 * MAX_CONSTITUENT_ENERGY / 100.0))
    path = write(tmp_path / "jetImage_a.h5")
    put_constituent(3, 0, edge)(path)
    put_jet(9, along_z(10.0, 0.999 * MAX_JET_RAPIDITY))(path)
    jets = read_hls4ml(path)
    assert jets.p4[3].max() == pytest.approx(0.999 * MAX_CONSTITUENT_ENERGY, rel=1e-6)
    assert jets.mask[9].sum() == 1


def test_jet_kinematics_beyond_float32_are_refused_naming_the_jet(tmp_path):
    path = write(tmp_path / "jetImage_a.h5")
    with h5py.File(path, "a") as f:
        f["jets"][12, JET_FEATURE_NAMES.index("j_mass")] = 1e40
    with pytest.raises(DataError, match=r"jetImage_a.h5: jet 12 has j_mass = 1e\+40, not a finite float32"):
        read_hls4ml(path)


def test_jets_at_every_bound_give_the_taggers_finite_inputs_even_boosted(tmp_path):
    """What passes the reader must give finite features (docs/methods.md §2) after SEAL's largest boost
    along the beam: the bounds exist for that, so this fails if one is loosened too far."""
    import torch

    from raysym.features import constituent_features
    from raysym.lorentz import BETA2_MAX, boost_matrix

    rapidity = 0.999 * MAX_JET_RAPIDITY
    edge_energy = 0.999 * MAX_CONSTITUENT_ENERGY
    path = write(tmp_path / "jetImage_a.h5", n_jets=6)
    put_jet(0, along_z(edge_energy / np.cosh(rapidity), rapidity))(path)  # all energy along the beam
    put_jet(1, along_z(edge_energy / np.cosh(rapidity), rapidity), along_z(1e-20, rapidity))(path)  # tiny pT
    put_jet(2, along_z(0.5 * edge_energy / np.cosh(rapidity), -rapidity),
            (1e-30, 0.0, -1e-30, 1e-30 * 2**0.5))(path)  # a vanishing constituent
    put_jet(3, *[along_z(edge_energy / np.cosh(2.4), 2.0 + 0.01 * i) for i in range(40)])(path)  # energetic jet
    jets = read_hls4ml(path)
    p4, mask = torch.from_numpy(jets.p4), torch.from_numpy(jets.mask)
    beta = BETA2_MAX ** 0.5
    for boost in (torch.zeros(3), torch.tensor([0.0, 0.0, beta]), torch.tensor([0.0, 0.0, -beta]),
                  torch.tensor([beta, 0.0, 0.0])):
        boosted = torch.einsum("ij,bnj->bni", boost_matrix(boost).float(), p4)
        features = constituent_features(boosted, mask)
        assert torch.isfinite(features).all(), f"non-finite features after the boost {boost.tolist()}"
