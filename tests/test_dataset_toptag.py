"""The top-tagging reference data set (raysym.data.dataset_toptag): its published pandas layout, written and
read back, every malformed file refused with one DataError, and its declaration (classes, task, splits)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from raysym.data.constituent_checks import jet_kinematics
from raysym.data.dataset_spec import dataset
from raysym.data.dataset_toptag import (
    COLUMNS,
    TOPTAG,
    ToptagDataset,
    inspect_toptag,
    resolve_files,
    write_toptag_file,
)
from raysym.data.jetset import split, task_view
from raysym.errors import ConfigError, DataError
from tests.test_hls4ml_reader import make_momenta as hls4ml_momenta


def make_momenta(n_jets: int, seed: int = 0, max_constituents: int = 60, shuffle: bool = False) -> np.ndarray:
    """The hls4ml reader tests' jets (tests/test_hls4ml_reader.py) as this layout stores them: (E, px, py, pz)
    float32, leading first unless shuffled, zero rows for padding."""
    momenta = hls4ml_momenta(n_jets, seed, max_constituents, shuffle)  # (px, py, pz, E)
    return np.concatenate([momenta[..., 3:], momenta[..., :3]], axis=-1).astype(np.float32)


def expected_p4(momenta: np.ndarray, n_keep: int = 32) -> np.ndarray:
    """The leading ``n_keep`` constituents of (E, px, py, pz) momenta by pT, float32, zero-padded."""
    pt = np.hypot(momenta[..., 1].astype(np.float64), momenta[..., 2].astype(np.float64))
    order = np.argsort(-pt, axis=1, kind="stable")[:, :n_keep]
    lead = np.take_along_axis(momenta, order[..., None], axis=1)
    out = np.zeros((len(momenta), n_keep, 4), np.float32)
    out[:, : lead.shape[1]] = lead
    return out


def labels_of(n_jets: int) -> np.ndarray:
    return np.arange(n_jets) % 2


def write(path: Path, n_jets: int = 24, seed: int = 0, labels=None) -> Path:
    return write_toptag_file(path, make_momenta(n_jets, seed), labels_of(n_jets) if labels is None else labels)


def frame_of(momenta: np.ndarray, labels: np.ndarray, ttv: int = 0) -> pd.DataFrame:
    """The published frame of ``momenta`` built column by column with pandas alone (not the writer)."""
    n = len(momenta)
    padded = np.zeros((n, 200, 4), np.float32)
    padded[:, : momenta.shape[1]] = momenta
    columns = {f"{name}_{i}": padded[:, i, k] for i in range(200) for k, name in enumerate(("E", "PX", "PY", "PZ"))}
    columns.update({name: np.zeros(n, np.float32) for name in ("truthE", "truthPX", "truthPY", "truthPZ")})
    columns.update(ttv=np.full(n, ttv, np.int64), is_signal_new=np.asarray(labels, np.int64))
    # The published files keep pandas' row numbers of the full sample: increasing, with gaps.
    return pd.DataFrame(columns, index=np.arange(n) * 3 + 436)


def edit_records(path: Path, change) -> None:
    """Apply ``change`` to the structured array of all records and store it back."""
    with h5py.File(path, "a") as f:
        records = f["table/table"][()]
        change(records)
        f["table/table"][...] = records


def set_attribute(path: Path, node: str, name: str, value) -> None:
    with h5py.File(path, "a") as f:
        f[node].attrs[name] = value


def pickled(names) -> np.bytes_:
    """Column names as PyTables stores them (pickle protocol 0)."""
    return np.bytes_(pickle.dumps(list(names), 0))


# -- the published layout -------------------------------------------------------------------------------

def test_pandas_reads_a_written_file_as_the_published_806_column_frame(tmp_path):
    momenta = make_momenta(12)
    truth = np.tile([[700.0, 100.0, 200.0, 300.0]], (12, 1))
    path = write_toptag_file(tmp_path / "val.h5", momenta, labels_of(12), truth_p4=truth, ttv=2)
    frame = pd.read_hdf(path, key="table")  # what energyflow, JetNet and particle_transformer call
    assert list(frame.columns) == list(COLUMNS) and len(COLUMNS) == 806
    assert (frame.dtypes.iloc[:804] == np.float32).all() and (frame.dtypes.iloc[804:] == np.int64).all()
    values = frame.to_numpy()
    np.testing.assert_array_equal(values[:, :240].reshape(12, 60, 4), momenta)
    assert (values[:, 240:800] == 0).all()  # zero-padded to 200 constituents
    np.testing.assert_array_equal(frame[["truthE", "truthPX", "truthPY", "truthPZ"]].to_numpy(), truth)
    assert (frame["ttv"] == 2).all()
    np.testing.assert_array_equal(frame["is_signal_new"], labels_of(12))


def test_a_written_file_has_the_hdf5_structure_of_the_published_files(tmp_path):
    path = write(tmp_path / "train.h5")
    with h5py.File(path) as f:
        assert f["table"].attrs["pandas_type"] == b"frame_table"  # pandas' "table" format
        records = f["table/table"]
        assert records.dtype.names == ("index", "values_block_0", "values_block_1")
        assert records.dtype["values_block_0"] == np.dtype(("<f4", (804,)))
        assert records.dtype["values_block_1"] == np.dtype(("<i8", (2,)))
        assert pickle.loads(records.attrs["values_block_0_kind"]) == list(COLUMNS[:804])
        assert pickle.loads(records.attrs["values_block_1_kind"]) == ["ttv", "is_signal_new"]


def test_a_frame_written_by_pandas_itself_reads_as_the_writers_file(tmp_path):
    momenta = make_momenta(20, seed=3)
    frame_of(momenta, labels_of(20), ttv=1).to_hdf(tmp_path / "test.h5", key="table", format="table")
    by_pandas = TOPTAG.read(tmp_path / "test.h5")
    by_writer = TOPTAG.read(write_toptag_file(tmp_path / "w.h5", momenta, labels_of(20)))
    np.testing.assert_array_equal(by_pandas.p4, by_writer.p4)
    np.testing.assert_array_equal(by_pandas.label, by_writer.label)
    np.testing.assert_array_equal(by_pandas.p4, expected_p4(momenta))


def test_columns_are_found_by_name_whatever_their_order_or_block(tmp_path):
    momenta = make_momenta(20, seed=4)
    frame = frame_of(momenta, labels_of(20))
    shuffled = frame[list(np.random.default_rng(0).permutation(frame.columns))]
    shuffled.to_hdf(tmp_path / "a.h5", key="table", format="table", data_columns=["is_signal_new", "PX_0"])
    with h5py.File(tmp_path / "a.h5") as f:
        assert {"is_signal_new", "PX_0"} <= set(f["table/table"].dtype.names)  # their own record fields
    jets = TOPTAG.read(tmp_path / "a.h5")
    np.testing.assert_array_equal(jets.p4, expected_p4(momenta))
    np.testing.assert_array_equal(jets.label, labels_of(20))


def test_a_zlib_compressed_file_is_read(tmp_path):
    momenta = make_momenta(20, seed=5)
    jets = TOPTAG.read(write_toptag_file(tmp_path / "z.h5", momenta, labels_of(20), complevel=5))
    np.testing.assert_array_equal(jets.p4, expected_p4(momenta))


# -- what the reader keeps --------------------------------------------------------------------------------

def test_the_leading_constituents_are_kept_in_e_px_py_pz_order_and_short_jets_padded(tmp_path):
    momenta = make_momenta(24)
    jets = TOPTAG.read(write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24)))
    assert jets.p4.shape == (24, 32, 4) and jets.p4.dtype == np.float32
    np.testing.assert_array_equal(jets.p4, expected_p4(momenta))
    np.testing.assert_array_equal(jets.p4[0, :, 0], momenta[0, :32, 0])  # E first
    assert jets.mask[0].all() and jets.mask[1].all()  # 45 and exactly 32 constituents
    assert jets.mask[2].sum() == 5 and jets.mask[2, :5].all() and (jets.p4[2, 5:] == 0).all()
    np.testing.assert_array_equal(jets.mask, np.hypot(jets.p4[..., 1], jets.p4[..., 2]) > 0)


def test_an_unsorted_file_is_read_leading_constituent_first(tmp_path):
    momenta = make_momenta(24, shuffle=True)
    jets = TOPTAG.read(write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24)))
    np.testing.assert_array_equal(jets.p4, expected_p4(momenta))
    assert (np.diff(np.hypot(jets.p4[..., 1], jets.p4[..., 2]), axis=1) <= 0).all()


@pytest.mark.parametrize("n_keep", [1, 64, 200, 256])
def test_n_constituents_keeps_that_many_padding_beyond_the_stored_ones(tmp_path, n_keep):
    momenta = make_momenta(10)
    jets = TOPTAG.read(write_toptag_file(tmp_path / "a.h5", momenta, labels_of(10)), n_constituents=n_keep)
    assert jets.p4.shape == (10, n_keep, 4)
    np.testing.assert_array_equal(jets.p4[:, : min(n_keep, 60)], expected_p4(momenta, min(n_keep, 60)))
    assert (jets.p4[:, 60:] == 0).all() and not jets.mask[:, 60:].any()


def test_labels_come_from_is_signal_new_and_jet_kinematics_from_the_kept_constituents(tmp_path):
    labels = np.array([1, 1, 0, 1, 0, 0, 0, 1, 1, 0])
    jets = TOPTAG.read(write(tmp_path / "a.h5", n_jets=10, labels=labels))
    np.testing.assert_array_equal(jets.label, labels)
    assert [jets.classes[i] for i in jets.label[:3]] == ["top", "top", "qcd"]
    pt, eta, mass = jet_kinematics(jets.p4, jets.mask)
    np.testing.assert_array_equal(jets.jet_pt, pt)
    np.testing.assert_array_equal(jets.jet_eta, eta)
    np.testing.assert_array_equal(jets.jet_mass, mass)
    kept = jets.p4[0].astype(np.float64).sum(axis=0)  # jet 0 keeps 32 of its 45 constituents
    assert jets.jet_pt[0] == pytest.approx(np.hypot(kept[1], kept[2]), rel=1e-6)


def test_reading_in_chunks_gives_the_same_jets(tmp_path, monkeypatch):
    import raysym.data.dataset_toptag as toptag

    path = write(tmp_path / "a.h5", n_jets=50)
    whole = TOPTAG.read(path)
    monkeypatch.setattr(toptag, "CHUNK_JETS", 7)
    chunked = TOPTAG.read(path)
    np.testing.assert_array_equal(chunked.p4, whole.p4)
    np.testing.assert_array_equal(chunked.label, whole.label)


def test_a_folder_gives_its_h5_files_sorted_and_max_jets_stops_early(tmp_path):
    write(tmp_path / "val.h5", n_jets=7, seed=2)
    write(tmp_path / "test.h5", n_jets=5, seed=1)
    (tmp_path / "notes.txt").write_text("not picked up")
    assert [p.name for p in TOPTAG.files(tmp_path)] == ["test.h5", "val.h5"]
    first = TOPTAG.read(tmp_path / "test.h5")
    jets = TOPTAG.read(tmp_path)
    assert len(jets) == 12
    np.testing.assert_array_equal(jets.p4[:5], first.p4)
    assert len(TOPTAG.read(tmp_path, max_jets=8)) == 8
    listed = TOPTAG.read([tmp_path / "val.h5", tmp_path / "test.h5"], max_jets=9)
    np.testing.assert_array_equal(listed.p4[7:], first.p4[:2])
    assert [path.name for path, _, _ in inspect_toptag(tmp_path, max_jets=5)] == ["test.h5"]


def test_the_header_check_reads_no_jets(tmp_path):
    momenta = make_momenta(24)
    momenta[6, 1, 2] = np.nan
    path = write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24))
    [(checked, layout, n_read)] = TOPTAG.inspect(path)
    assert checked == path.resolve() and layout.n_jets == n_read == 24
    with pytest.raises(DataError, match="NaN"):
        TOPTAG.read(path)


# -- malformed input: one DataError naming the file ----------------------------------------------------------

def test_a_missing_file_an_empty_folder_and_an_empty_list_are_refused(tmp_path):
    with pytest.raises(DataError, match="x.h5: no such file"):
        TOPTAG.read(tmp_path / "x.h5")
    with pytest.raises(DataError, match=r"no \*.h5 files"):
        TOPTAG.read(tmp_path)
    with pytest.raises(DataError, match="empty list"):
        TOPTAG.read([])


def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "train.h5"
    path.write_bytes(b"E_0,PX_0\n1,2\n")
    with pytest.raises(DataError, match="train.h5: not an HDF5 file"):
        TOPTAG.read(path)


def test_a_frame_under_another_key_is_refused_naming_what_the_file_holds(tmp_path):
    frame_of(make_momenta(4), labels_of(4)).to_hdf(tmp_path / "a.h5", key="jets", format="table")
    with pytest.raises(DataError, match=r"a.h5: no 'table' group; .* \(found jets\)"):
        TOPTAG.read(tmp_path / "a.h5")


def test_a_frame_in_pandas_fixed_format_is_refused_with_how_to_convert(tmp_path):
    frame_of(make_momenta(4), labels_of(4)).to_hdf(tmp_path / "a.h5", key="table", format="fixed")
    with pytest.raises(DataError, match=r"a.h5: the frame under 'table' is in pandas' 'fixed' format.*to_hdf"):
        TOPTAG.inspect(tmp_path / "a.h5")


def test_an_hdf5_file_not_written_by_pandas_is_refused(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["table"] = np.zeros((4, 806))
    with pytest.raises(DataError, match="a.h5: 'table' is not a pandas frame in 'table' format"):
        TOPTAG.read(tmp_path / "a.h5")


@pytest.mark.parametrize("column", ["PZ_199", "E_0", "is_signal_new"])
def test_a_frame_lacking_a_column_of_the_layout_is_refused(tmp_path, column):
    frame_of(make_momenta(4), labels_of(4)).drop(columns=[column]).to_hdf(tmp_path / "a.h5", key="table",
                                                                         format="table")
    with pytest.raises(DataError, match=f"a.h5: the frame lacks column '{column}' \\(1 of"):
        TOPTAG.inspect(tmp_path / "a.h5")


def test_momenta_that_are_not_numbers_are_refused_by_the_header_check(tmp_path):
    frame = frame_of(make_momenta(4), labels_of(4))
    frame["PX_3"] = frame["PX_3"].astype(str)
    frame.to_hdf(tmp_path / "a.h5", key="table", format="table")
    with pytest.raises(DataError, match=r"a.h5: table/table field 'values_block_\d' has dtype \|S\d+, expected real"):
        TOPTAG.inspect(tmp_path / "a.h5")


@pytest.mark.parametrize("value, counted", [(np.nan, r"2 jet\(s\) with NaN and 0 with infinite"),
                                            (np.inf, r"0 jet\(s\) with NaN and 2 with infinite")])
def test_non_finite_momenta_are_refused_naming_the_first_jet(tmp_path, value, counted):
    momenta = make_momenta(24)
    momenta[3, 0, 1] = value
    momenta[7, 2, 0] = value
    path = write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24))
    with pytest.raises(DataError, match=f"a.h5: {counted} .*first: jet 3"):
        TOPTAG.read(path)


def test_an_unphysical_constituent_is_refused_naming_the_jet(tmp_path):
    momenta = make_momenta(24)
    momenta[9, 1, 0] = 0.5 * np.linalg.norm(momenta[9, 1, 1:])  # E < |p|
    with pytest.raises(DataError, match="a.h5: jet 9 has an unphysical constituent 1"):
        TOPTAG.read(write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24)))


def test_a_jet_without_constituents_is_refused_naming_it(tmp_path):
    momenta = make_momenta(24)
    momenta[11] = 0.0
    with pytest.raises(DataError, match="a.h5: jet 11 has no constituents"):
        TOPTAG.read(write_toptag_file(tmp_path / "a.h5", momenta, labels_of(24)))


@pytest.mark.parametrize("label", [2, -1])
def test_an_is_signal_new_other_than_0_or_1_is_refused_naming_the_jet(tmp_path, label):
    path = write(tmp_path / "a.h5")

    def relabel(records):
        records["values_block_1"][6, 1] = label  # (ttv, is_signal_new)
    edit_records(path, relabel)
    with pytest.raises(DataError, match=f"a.h5: jet 6 has is_signal_new = {label}, expected 0 \\(QCD\\) or 1"):
        TOPTAG.read(path)


def test_a_fractional_label_in_a_float_column_is_refused(tmp_path):
    frame = frame_of(make_momenta(6), labels_of(6))
    frame["is_signal_new"] = np.array([0, 1, 0.5, 1, 0, 1], np.float32)  # now stored with the momenta
    frame.to_hdf(tmp_path / "a.h5", key="table", format="table")
    with pytest.raises(DataError, match="a.h5: jet 2 has is_signal_new = 0.5"):
        TOPTAG.read(tmp_path / "a.h5")


def test_jets_of_one_class_only_are_refused_naming_the_class(tmp_path):
    path = write(tmp_path / "a.h5", labels=np.zeros(24, int))
    with pytest.raises(DataError, match=r"a.h5: holds only qcd jets; the task top_vs_qcd needs qcd and top"):
        TOPTAG.read(path)


def test_a_single_class_among_the_first_max_jets_says_so(tmp_path):
    path = write(tmp_path / "a.h5", labels=np.repeat([0, 1], 12))  # sorted by class
    assert TOPTAG.read(path).class_counts() == {"qcd": 12, "top": 12}
    with pytest.raises(DataError, match=r"holds only qcd jets \(only the first 10 jets were read"):
        TOPTAG.read(path, max_jets=10)


def test_a_record_count_that_disagrees_with_the_stored_records_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    set_attribute(path, "table/table", "NROWS", np.int64(30))
    with pytest.raises(DataError, match="a.h5: table/table states NROWS = 30 but holds 24 records"):
        TOPTAG.inspect(path)


def test_column_names_that_do_not_match_the_block_width_are_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    set_attribute(path, "table/table", "values_block_0_kind", pickled(COLUMNS[:803]))
    with pytest.raises(DataError, match="a.h5: values_block_0_kind names 803 columns for the 804 of 'values_block_0'"):
        TOPTAG.inspect(path)


def test_a_column_named_in_two_blocks_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    set_attribute(path, "table/table", "values_block_1_kind", pickled(["E_0", "is_signal_new"]))
    with pytest.raises(DataError, match="a.h5: column 'E_0' is stored twice"):
        TOPTAG.inspect(path)


def test_column_names_that_would_run_code_are_refused_without_running_it(tmp_path):
    path = write(tmp_path / "a.h5")
    marker = tmp_path / "ran"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # a pickle calling os.system
    set_attribute(path, "table/table", "values_block_1_kind", np.bytes_(payload))
    with pytest.raises(DataError, match="a.h5: the column names of values_block_1 are not a pickled list"):
        TOPTAG.inspect(path)
    assert not marker.exists()


@pytest.mark.skipif(h5py.h5z.filter_avail(32001), reason="this h5py decodes blosc")
def test_a_compression_h5py_cannot_decode_is_refused_by_the_header_check(tmp_path):
    frame_of(make_momenta(4), labels_of(4)).to_hdf(tmp_path / "a.h5", key="table", format="table",
                                                   complib="blosc", complevel=5)
    with pytest.raises(DataError, match=r"a.h5: table/table is compressed with HDF5 filter 32001 \(blosc\)"):
        TOPTAG.inspect(tmp_path / "a.h5")


def test_a_file_declaring_a_billion_jets_it_does_not_hold_is_refused_before_allocating(tmp_path):
    path = write(tmp_path / "a.h5", n_jets=4)
    with h5py.File(path, "a") as f:
        records = f["table/table"]
        dtype, attributes = records.dtype, dict(records.attrs)
        del f["table/table"]
        huge = f.create_dataset("table/table", shape=(10**9,), dtype=dtype, chunks=(1,))
        huge.attrs.update({k: v for k, v in attributes.items() if k != "NROWS"})
    with pytest.raises(DataError, match=r"a.h5: table/table declares 1,000,000,000 jets .* stores 0 bytes"):
        TOPTAG.inspect(path)


def test_a_file_listed_twice_is_refused(tmp_path):
    path = write(tmp_path / "a.h5")
    with pytest.raises(DataError, match="a.h5: listed twice"):
        TOPTAG.read([path, tmp_path / "." / "a.h5"])


def test_two_files_of_the_same_jets_are_refused_before_any_jet_is_read(tmp_path):
    a = write(tmp_path / "a.h5", seed=3)
    shutil.copy(a, tmp_path / "b.h5")
    with pytest.raises(DataError, match=r"b.h5: holds the same jets as .*a.h5"):
        TOPTAG.inspect(tmp_path)


def test_a_jet_repeated_inside_the_data_is_refused_naming_both_places(tmp_path):
    momenta = make_momenta(24, seed=4)
    labels = labels_of(24)
    momenta[20], labels[20] = momenta[5], labels[5]
    path = write_toptag_file(tmp_path / "a.h5", momenta, labels)
    with pytest.raises(DataError, match=r"a.h5: jet 20 is the same jet as jet 5 of .*a.h5"):
        TOPTAG.read(path)


@pytest.mark.parametrize("settings", [{"n_constituents": 0}, {"max_jets": 0}, {"max_jets": True}])
def test_impossible_settings_are_config_errors(tmp_path, settings):
    with pytest.raises(ConfigError):
        TOPTAG.read(write(tmp_path / "a.h5"), **settings)


def test_the_writer_refuses_what_the_layout_cannot_hold(tmp_path):
    with pytest.raises(DataError, match=r"momenta have shape \(2, 201, 4\)"):
        write_toptag_file(tmp_path / "a.h5", np.ones((2, 201, 4)), [0, 1])
    with pytest.raises(DataError, match="is_signal must be 2 values of 0"):
        write_toptag_file(tmp_path / "a.h5", np.ones((2, 3, 4)), [0, 2])
    with pytest.raises(ConfigError, match="ttv must be one of"):
        write_toptag_file(tmp_path / "a.h5", np.ones((2, 3, 4)), [0, 1], ttv=5)
    assert not list(tmp_path.iterdir())


# -- the declaration --------------------------------------------------------------------------------------

def test_the_declaration_has_two_classes_and_one_in_distribution_task():
    assert dataset("toptag") is TOPTAG and isinstance(TOPTAG, ToptagDataset)
    assert TOPTAG.classes == ("qcd", "top")
    [task] = TOPTAG.tasks
    assert (task.name, task.signal, task.background, task.role) == ("top_vs_qcd", ("top",), ("qcd",), "in")
    assert TOPTAG.training_task is task
    assert TOPTAG.roles() == {"in": ["top_vs_qcd"], "near": [], "far": []}  # no out-of-distribution task
    assert TOPTAG.stored_constituents == 200 and not TOPTAG.weighted
    assert "2603256" in TOPTAG.layout and "SciPost Phys. 7 (2019) 014" in TOPTAG.layout


def test_its_jets_split_by_class_and_give_the_top_vs_qcd_view(tmp_path):
    labels = np.r_[np.zeros(30, int), np.ones(18, int)]
    jets = TOPTAG.read(write(tmp_path / "a.h5", n_jets=48, labels=labels))
    assert (jets.dataset, jets.classes, jets.tasks) == ("toptag", TOPTAG.classes, TOPTAG.tasks)
    assert jets.weight is None and jets.class_counts() == {"qcd": 30, "top": 18}
    parts = split(jets, seed=0)
    assert sum(len(part) for part in parts.values()) == 48
    for part in parts.values():
        assert set(part.label.tolist()) == {0, 1}
    view = task_view(parts["train"], "top_vs_qcd")
    assert len(view) == len(parts["train"])
    np.testing.assert_array_equal(view.y, parts["train"].label.astype(np.float32))  # top is the signal
    with pytest.raises(ConfigError, match="unknown task 'g_vs_w'"):
        task_view(jets, "g_vs_w")


def test_files_resolves_like_the_reader(tmp_path):
    write(tmp_path / "b.h5")
    write(tmp_path / "a.h5", seed=1)
    assert TOPTAG.files(tmp_path) == resolve_files(tmp_path) == [tmp_path / "a.h5", tmp_path / "b.h5"]
    assert TOPTAG.files([tmp_path / "b.h5"]) == [tmp_path / "b.h5"]


def test_a_smoke_study_runs_offline_on_top_tagging_jets_the_generator_writes(ray_local, tmp_path):
    """No files given: the study generates light-quark and top jets in the top-tagging layout, reads them with
    this data set's reader, and trains, evaluates and analyses top vs QCD."""
    from raysym.report.selection import select_run
    from raysym.report.verdicts import verdicts
    from raysym.store import ResultStore
    from raysym.study.pipeline import run_study
    from raysym.study.presets import preset, smoke

    config = smoke(preset("quick").for_dataset("toptag")).with_overrides(
        name="top", distillation={"enabled": False}, analyses={"spectrum": False, "goldstone": False})
    assert config.data.generator.classes == ("q", "t") and config.recipe.task == "top_vs_qcd"
    outcome = run_study(config, tmp_path, verbose=0, progress=False)
    assert not outcome.errors and outcome.trained == 2
    assert sorted((tmp_path / "data" / "generated-toptag-40-s0").glob("toptag_gen_*.h5"))
    store = ResultStore(outcome.store_path)
    assert set(store.load("evaluations")["task"]) == {"top_vs_qcd"}
    assert len(store.load("hessian")) == 2 and len(store.load("smearing")) == 4
    run = select_run(outcome.store_path, "top", outcome.run_key)
    assert run.dataset.name == "toptag" and not run.dataset.ood
    assert [v.key for v in verdicts(run) if v.key.startswith("auc_")] == ["auc_top_vs_qcd"]
