"""The JetClass declaration (raysym/data/dataset_jetclass.py): its classes and tasks, reading files of the
published ROOT layout into a JetSet, and refusing every malformed file with one DataError."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

import raysym.data.dataset_jetclass as jetclass
from raysym.data.dataset_jetclass import (
    JETCLASS,
    LABEL_BRANCHES,
    inspect_jetclass,
    resolve_files,
    write_jetclass_file,
)
from raysym.data.dataset_spec import dataset
from raysym.data.jetset import task_view
from raysym.errors import ConfigError, DataError


def make_jets(n_jets: int, seed: int = 0, shuffle: bool = False) -> list[np.ndarray]:
    """Jets of 1 to 60 massless (px, py, pz, E) particles near η = 0.3, φ = 0, sorted by pT unless
    shuffled; the first three hold 45, 32 and 5 particles (longer than, exactly, shorter than 32)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 61, n_jets)
    counts[:3] = (45, 32, 5)[:n_jets]
    jets = []
    for count in counts:
        pt = -np.sort(-rng.exponential(30.0, count)) + 1.0
        if shuffle:
            pt = rng.permutation(pt)
        eta, phi = rng.normal(0.3, 0.1, count), rng.normal(0.0, 0.1, count)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        jets.append(np.stack([px, py, pz, np.sqrt(px**2 + py**2 + pz**2)], axis=-1))
    return jets


def expected_p4(jets: list[np.ndarray], n_keep: int = 32) -> np.ndarray:
    """The leading ``n_keep`` particles by pT (of the float32 values stored) as (E, px, py, pz)."""
    out = np.zeros((len(jets), n_keep, 4), np.float32)
    for i, jet in enumerate(jets):
        stored = jet.astype(np.float32).astype(np.float64)
        order = np.argsort(-np.hypot(stored[:, 0], stored[:, 1]), kind="stable")[:n_keep]
        out[i, :len(order)] = stored[order][:, [3, 0, 1, 2]]
    return out


def write(path: Path, n_jets: int = 25, seed: int = 0, labels=None, **kwargs) -> Path:
    labels = np.arange(n_jets) % 10 if labels is None else labels
    return write_jetclass_file(path, make_jets(n_jets, seed, **kwargs), labels)


def columns(path: Path) -> dict[str, ak.Array | np.ndarray]:
    """Every branch of a written file but the particle counter, to edit and write back with
    :func:`write_raw`."""
    with uproot.open(path) as f:
        arrays = f["tree"].arrays(library="ak", how=dict)
    return {name: value if value.ndim > 1 else ak.to_numpy(value) for name, value in arrays.items()
            if name != "npart"}


def write_raw(path: Path, branches: dict, tree: str = "tree") -> Path:
    """A TTree of exactly ``branches`` (each jagged one with a counter of its own, as each
    std::vector branch of the published files carries its own sizes)."""
    with uproot.recreate(path) as f:
        f.mktree(tree, {name: value.type.content if isinstance(value, ak.Array)
                        else np.dtype((value.dtype, value.shape[1:])) for name, value in branches.items()})
        f[tree].extend(branches)
    return path


def with_particle(branch: ak.Array, jet: int, index: int, value: float) -> ak.Array:
    """``branch`` with particle ``index`` of jet ``jet`` set to ``value``."""
    counts = ak.to_numpy(ak.num(branch))
    flat = ak.to_numpy(ak.flatten(branch)).copy()
    flat[counts[:jet].sum() + index] = value
    return ak.unflatten(flat, counts)


def with_jet(branch: ak.Array, jet: int, values) -> ak.Array:
    """``branch`` with jet ``jet``'s particles replaced by ``values`` (any number of them)."""
    rows = ak.to_list(branch)
    rows[jet] = list(values)
    return ak.values_astype(ak.Array(rows), np.float32)


def edited(tmp_path: Path, change, name: str = "JetClass_a.root") -> Path:
    """A written file of 25 jets after ``change`` (a function of its branches) was applied."""
    path = write(tmp_path / name)
    branches = columns(path)
    change(branches)
    return write_raw(path, branches)


# -- the declaration ------------------------------------------------------------------------------------

def test_the_spec_declares_ten_classes_in_label_branch_order():
    assert JETCLASS.name == "jetclass" and dataset("jetclass") is JETCLASS
    assert JETCLASS.classes == ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
    assert LABEL_BRANCHES == tuple(f"label_{c}" for c in JETCLASS.classes)
    assert JETCLASS.stored_constituents == 128 and JETCLASS.weighted is False
    assert "6619768" in JETCLASS.layout
    JETCLASS.check_declaration()


def test_the_spec_trains_on_top_against_qcd_with_a_multiprong_near_and_a_two_prong_far_task():
    assert JETCLASS.training_task.name == "tbqq_vs_qcd"
    assert (JETCLASS.training_task.signal, JETCLASS.training_task.background) == (("Tbqq",), ("QCD",))
    assert JETCLASS.roles() == {"in": ["tbqq_vs_qcd"], "near": ["h4q_vs_qcd"], "far": ["wqq_vs_qcd"]}
    assert JETCLASS.task("h4q_vs_qcd").signal == ("H4q",) and JETCLASS.task("wqq_vs_qcd").signal == ("Wqq",)
    with pytest.raises(ConfigError, match="unknown task 'g_vs_w'"):
        JETCLASS.task("g_vs_w")


# -- round trip -----------------------------------------------------------------------------------------

def test_the_writer_writes_the_published_branches_and_element_types(tmp_path):
    path = write(tmp_path / "JetClass_a.root")
    with uproot.open(path) as f:
        tree = f["tree"]
        types = {branch.name: branch.typename for branch in tree.branches}
    for name in ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi"):
        assert types[name] == "float[]"
    for name in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_nparticles", "jet_sdmass", "label_QCD"):
        assert types[name] == "float"
    assert types["label_Hbb"] == types["label_Hqql"] == "bool"
    assert types["label_Zqq"] == types["label_Tbl"] == "int32_t"


def test_reader_round_trips_momenta_labels_and_jet_kinematics(tmp_path):
    jets = make_jets(25)
    path = write_jetclass_file(tmp_path / "JetClass_a.root", jets, np.arange(25) % 10)
    read = JETCLASS.read(path)
    assert read.p4.shape == (25, 32, 4) and read.p4.dtype == np.float32
    np.testing.assert_array_equal(read.p4, expected_p4(jets))
    np.testing.assert_array_equal(read.label, np.arange(25) % 10)
    assert (read.dataset, read.classes, read.tasks) == ("jetclass", JETCLASS.classes, JETCLASS.tasks)
    total = np.array([jet.sum(axis=0) for jet in jets])
    pt = np.hypot(total[:, 0], total[:, 1])
    np.testing.assert_allclose(read.jet_pt, pt, rtol=1e-6)
    np.testing.assert_allclose(read.jet_eta, np.arcsinh(total[:, 2] / pt), rtol=1e-5)
    mass = np.sqrt(total[:, 3] ** 2 - (total[:, :3] ** 2).sum(axis=1))
    np.testing.assert_allclose(read.jet_mass, mass, rtol=2e-3, atol=0.05)  # E² − p² of float32 E and pT


def test_reader_truncates_long_jets_and_pads_short_ones_with_a_mask(tmp_path):
    read = JETCLASS.read(write(tmp_path / "JetClass_a.root"))
    assert read.mask[0].all() and read.mask[1].all()  # 45 and exactly 32 particles
    assert read.mask[2].sum() == 5 and read.mask[2, :5].all() and (read.p4[2, 5:] == 0).all()


def test_reader_keeps_the_128_particles_of_the_published_padding(tmp_path):
    jets = make_jets(10)
    read = JETCLASS.read(write_jetclass_file(tmp_path / "a.root", jets, np.zeros(10, int)), n_constituents=128)
    assert read.p4.shape == (10, 128, 4)
    np.testing.assert_array_equal(read.p4, expected_p4(jets, 128))


def test_reader_sorts_unsorted_particles_by_descending_pt(tmp_path):
    jets = make_jets(25, shuffle=True)
    read = JETCLASS.read(write_jetclass_file(tmp_path / "a.root", jets, np.zeros(25, int)))
    assert (np.diff(np.hypot(read.p4[..., 1], read.p4[..., 2]), axis=1) <= 0).all()
    np.testing.assert_array_equal(read.p4, expected_p4(jets))


def test_a_padded_array_and_a_list_of_jets_write_the_same_jets(tmp_path):
    jets = make_jets(12)
    padded = np.zeros((12, 60, 4))
    for i, jet in enumerate(jets):
        padded[i, :len(jet)] = jet
    from_list = JETCLASS.read(write_jetclass_file(tmp_path / "a.root", jets, np.arange(12) % 10))
    from_padded = JETCLASS.read(write_jetclass_file(tmp_path / "b.root", padded, np.arange(12) % 10))
    assert from_list.fingerprint() == from_padded.fingerprint()


def test_reader_reads_in_chunks_and_bounded_blocks_with_the_same_result(tmp_path, monkeypatch):
    path = write_jetclass_file(tmp_path / "a.root", make_jets(60, seed=1), np.arange(60) % 10, basket_jets=13)
    whole = JETCLASS.read(path)
    monkeypatch.setattr(jetclass, "CHUNK_JETS", 7)
    monkeypatch.setattr(jetclass, "PAD_SLOTS", 100)  # blocks of one or two jets
    assert JETCLASS.read(path).fingerprint() == whole.fingerprint()


def test_max_jets_stops_across_files_in_the_order_given(tmp_path):
    a = write(tmp_path / "JetClass_a.root", n_jets=5, seed=1)
    b = write(tmp_path / "JetClass_b.root", n_jets=7, seed=2)
    assert len(JETCLASS.read(tmp_path)) == 12
    assert len(JETCLASS.read(tmp_path, max_jets=8)) == 8
    listed = JETCLASS.read([b, a], max_jets=9)
    np.testing.assert_array_equal(listed.p4[7:], JETCLASS.read(a).p4[:2])
    assert [p.n_read for p in JETCLASS.inspect([b, a], max_jets=6)] == [6]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="max_jets"):
            JETCLASS.read(a, max_jets=bad)
    with pytest.raises(ConfigError, match="n_constituents"):
        JETCLASS.read(a, n_constituents=0)


def test_files_gives_a_folders_root_files_sorted_and_a_file_or_list_as_given(tmp_path):
    b = write(tmp_path / "TTBar_001.root", seed=2)
    a = write(tmp_path / "HToBB_120.root", seed=1)
    (tmp_path / "notes.txt").write_text("not picked up")
    assert JETCLASS.files(tmp_path) == [a.resolve(), b.resolve()]
    assert JETCLASS.files(b) == [b.resolve()]
    assert JETCLASS.files([str(b), a]) == [b.resolve(), a.resolve()]


def test_a_single_class_file_reads_and_a_task_missing_its_other_class_names_it(tmp_path):
    top = write(tmp_path / "TTBar_000.root", n_jets=10, labels=np.full(10, 8))
    only_top = JETCLASS.read(top)
    assert only_top.class_counts()["Tbqq"] == 10 and sum(only_top.class_counts().values()) == 10
    with pytest.raises(DataError, match="task 'tbqq_vs_qcd' needs class 'QCD'.*TTBar_000.root"):
        task_view(only_top, "tbqq_vs_qcd")
    qcd = write(tmp_path / "ZJetsToNuNu_000.root", n_jets=6, seed=1, labels=np.zeros(6, int))
    both = task_view(JETCLASS.read([top, qcd]), "tbqq_vs_qcd")
    np.testing.assert_array_equal(both.y, [1] * 10 + [0] * 6)


def test_inspect_reads_no_particle(tmp_path):
    """The header check a study runs before Ray starts passes a file whose particles are NaN: it reads
    none of them (reading the jets then refuses it)."""
    path = edited(tmp_path, lambda b: b.update(part_px=with_particle(b["part_px"], 3, 0, np.nan)))
    assert [(p.n_jets, p.n_read) for p in inspect_jetclass(path)] == [(25, 25)]
    with pytest.raises(DataError, match="NaN"):
        JETCLASS.read(path)


# -- malformed input ------------------------------------------------------------------------------------

def test_a_missing_path_an_empty_folder_and_an_empty_list_are_refused(tmp_path):
    with pytest.raises(DataError, match="JetClass_x.root: no such file"):
        JETCLASS.read(tmp_path / "JetClass_x.root")
    with pytest.raises(DataError, match=r"no \*.root files"):
        JETCLASS.read(tmp_path)
    with pytest.raises(DataError, match="an empty list"):
        JETCLASS.read([])


def test_a_file_that_is_not_root_is_refused(tmp_path):
    path = tmp_path / "JetClass_a.root"
    path.write_bytes(b"plain text, not a ROOT file")
    with pytest.raises(DataError, match="JetClass_a.root: not a ROOT file"):
        JETCLASS.inspect(path)


def test_a_truncated_root_file_is_one_data_error(tmp_path):
    path = write(tmp_path / "JetClass_a.root", n_jets=200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="JetClass_a.root: cannot"):
        JETCLASS.read(path)


def test_a_file_without_the_tree_names_what_it_holds(tmp_path):
    path = write_raw(tmp_path / "JetClass_a.root", columns(write(tmp_path / "x.root")), tree="events")
    with pytest.raises(DataError, match="JetClass_a.root: no TTree 'tree' \\(the file holds: events\\)"):
        JETCLASS.inspect(path)


def test_an_rntuple_named_tree_is_not_the_published_ttree(tmp_path):
    path = tmp_path / "JetClass_a.root"
    with uproot.recreate(path) as f:
        f["tree"] = {"jet_pt": np.ones(3, np.float32)}  # uproot writes an RNTuple this way
    with pytest.raises(DataError, match="JetClass_a.root: 'tree' is a ROOT::RNTuple, not the TTree"):
        JETCLASS.inspect(path)


@pytest.mark.parametrize("branch", ["part_py", "part_energy", "jet_eta", "jet_energy", "label_Tbl", "label_QCD"])
def test_a_missing_branch_is_refused_by_name(tmp_path, branch):
    path = edited(tmp_path, lambda b: b.pop(branch))
    with pytest.raises(DataError, match=f"JetClass_a.root: TTree 'tree' lacks the branch '{branch}'"):
        JETCLASS.inspect(path)


@pytest.mark.parametrize("branch, value, wanted", [
    ("part_px", np.ones(25, np.float32), "part_px is float, expected a jagged array of numbers"),
    ("jet_pt", ak.values_astype(ak.Array([[1.0]] * 25), np.float32), "jet_pt is float\\[\\], expected one number per jet"),
    ("label_Hbb", ak.values_astype(ak.Array([[1.0]] * 25), np.float32), "label_Hbb is float\\[\\], expected one"),
    ("jet_eta", np.zeros((25, 3), np.float32), "jet_eta is float\\[3\\], expected one number per jet"),
])
def test_a_branch_of_the_wrong_type_is_refused_by_the_header_check(tmp_path, branch, value, wanted):
    path = edited(tmp_path, lambda b: b.update({branch: value}))
    with pytest.raises(DataError, match=f"JetClass_a.root: {wanted}"):
        JETCLASS.inspect(path)


def test_integer_particle_branches_are_numbers_and_read(tmp_path):
    def to_int(b):
        for name in ("part_px", "part_py", "part_pz"):
            b[name] = ak.values_astype(np.trunc(b[name]), np.int32)
        b["part_energy"] = ak.values_astype(np.ceil(b["part_energy"]), np.int32)  # E stays >= |p|
    read = JETCLASS.read(edited(tmp_path, to_int))
    assert len(read) == 25 and (read.p4 == np.round(read.p4)).all()


def test_an_empty_tree_is_refused(tmp_path):
    branches = {name: value[:0] for name, value in columns(write(tmp_path / "x.root")).items()}
    path = write_raw(tmp_path / "JetClass_a.root", branches)
    with pytest.raises(DataError, match="JetClass_a.root: TTree 'tree' holds no jets"):
        JETCLASS.inspect(path)


def test_a_branch_storing_fewer_entries_than_the_tree_is_refused(tmp_path, monkeypatch):
    """uproot writes every branch of a tree together, so the short branch of a damaged file is
    simulated: part_py's baskets end two jets early."""
    path = write(tmp_path / "JetClass_a.root")
    basket_offsets = uproot.behaviors.TBranch.TBranch.entry_offsets

    def short(branch):
        offsets = basket_offsets.fget(branch)
        return offsets[:-1] + [offsets[-1] - 2] if branch.name == "part_py" else offsets

    monkeypatch.setattr(uproot.behaviors.TBranch.TBranch, "entry_offsets", property(short))
    with pytest.raises(DataError, match="JetClass_a.root: branch 'part_py' stores 23 entries but TTree 'tree' "
                                        "has 25 jets"):
        JETCLASS.inspect(path)


@pytest.mark.parametrize("value, kind", [(np.nan, "2 jet\\(s\\) with NaN and 0 with infinite"),
                                         (np.inf, "0 jet\\(s\\) with NaN and 2 with infinite")])
def test_non_finite_momenta_are_refused_counting_the_jets(tmp_path, value, kind):
    def spoil(b):
        b["part_px"] = with_particle(b["part_px"], 3, 0, value)
        b["part_energy"] = with_particle(b["part_energy"], 7, 2, value)
    with pytest.raises(DataError, match=f"JetClass_a.root: {kind} .*first: jet 3"):
        JETCLASS.read(edited(tmp_path, spoil))


def test_a_jet_with_zero_particles_is_refused_naming_it(tmp_path):
    jets = make_jets(25)
    jets[11] = np.zeros((0, 4))
    path = write_jetclass_file(tmp_path / "JetClass_a.root", jets, np.arange(25) % 10)
    with pytest.raises(DataError, match="JetClass_a.root: jet 11 has no constituents"):
        JETCLASS.read(path)


def test_particle_branches_of_different_lengths_are_refused_naming_the_jet(tmp_path):
    count = len(make_jets(25)[4])

    def drop_one(b):
        b["part_py"] = with_jet(b["part_py"], 4, ak.to_list(b["part_py"][4])[:-1])
    with pytest.raises(DataError, match=f"JetClass_a.root: jet 4 has {count} part_px values but {count - 1} "
                                        "part_py values"):
        JETCLASS.read(edited(tmp_path, drop_one))


def test_a_jet_of_more_particles_than_any_real_jet_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jetclass, "MAX_PARTICLES", 40)
    with pytest.raises(DataError, match="JetClass_a.root: jet 0 holds 45 particles, more than 40"):
        JETCLASS.read(write(tmp_path / "JetClass_a.root"))


@pytest.mark.parametrize("set_to, problem", [
    ({}, r"no label set \(all 0\)"),
    ({"label_Hbb": True, "label_Tbl": 1}, r"several labels set \(label_Hbb=1, label_Tbl=1\)"),
    ({"label_QCD": 0.5}, r"label values other than 0/1 \(label_QCD=0.5\)"),
    ({"label_Zqq": 2}, r"label values other than 0/1 \(label_Zqq=2\)"),
])
def test_a_jet_with_no_label_or_several_is_refused_naming_it(tmp_path, set_to, problem):
    def relabel(b):
        for name in LABEL_BRANCHES:
            b[name][6] = 0
        for name, value in set_to.items():
            b[name][6] = value
    with pytest.raises(DataError, match=f"JetClass_a.root: jet 6 has {problem}"):
        JETCLASS.read(edited(tmp_path, relabel))


def test_non_finite_jet_kinematics_are_refused_naming_the_jet(tmp_path):
    def spoil(b):
        b["jet_energy"][12] = np.inf
    with pytest.raises(DataError, match="JetClass_a.root: jet 12 has jet_energy = inf, not a finite float32"):
        JETCLASS.read(edited(tmp_path, spoil))


def test_the_shared_physics_checks_apply(tmp_path):
    """E < |p| and energies beyond the LHC's are refused by the checks every reader shares."""
    def unphysical(b):
        b["part_energy"] = with_particle(b["part_energy"], 9, 1, 0.1)
    with pytest.raises(DataError, match="JetClass_a.root: jet 9 has an unphysical constituent 1"):
        JETCLASS.read(edited(tmp_path, unphysical))

    def beyond_lhc(b):
        b["part_pz"] = with_particle(b["part_pz"], 9, 1, 2e4)
        b["part_energy"] = with_particle(b["part_energy"], 9, 1, 2e4 + 100)
    with pytest.raises(DataError, match="jet 9 has a constituent 1 with E = 20100 GeV"):
        JETCLASS.read(edited(tmp_path, beyond_lhc, name="JetClass_b.root"))


# -- the same jets twice --------------------------------------------------------------------------------

def test_a_file_listed_twice_is_refused(tmp_path):
    path = write(tmp_path / "JetClass_a.root")
    with pytest.raises(DataError, match="JetClass_a.root: listed twice"):
        JETCLASS.read([path, tmp_path / "." / "JetClass_a.root"])
    with pytest.raises(DataError, match="listed twice"):
        resolve_files([path, path])


def test_a_copy_of_a_file_under_another_name_is_refused_before_any_particle_is_read(tmp_path):
    a = write(tmp_path / "JetClass_a.root", seed=3)
    b = tmp_path / "JetClass_b.root"
    b.write_bytes(a.read_bytes())
    with pytest.raises(DataError, match=r"JetClass_b.root: holds the same jets as .*JetClass_a.root"):
        JETCLASS.inspect(tmp_path)


def test_a_jet_repeated_inside_a_file_is_refused_naming_both_places(tmp_path):
    jets = make_jets(25, seed=4)
    jets[20] = jets[5]
    labels = np.arange(25) % 10
    labels[20] = labels[5]
    path = write_jetclass_file(tmp_path / "JetClass_a.root", jets, labels)
    with pytest.raises(DataError, match=r"JetClass_a.root: jet 20 is the same jet as jet 5 of .*JetClass_a.root"):
        JETCLASS.read(path)


# -- the writer's own input -----------------------------------------------------------------------------

def test_the_writer_refuses_labels_and_momenta_it_cannot_write(tmp_path):
    jets = make_jets(3)
    with pytest.raises(ConfigError, match="labels must lie in 0..9"):
        write_jetclass_file(tmp_path / "a.root", jets, [0, 1, 10])
    with pytest.raises(ConfigError, match="labels must be 3 class indices"):
        write_jetclass_file(tmp_path / "a.root", jets, [0, 1])
    with pytest.raises(ConfigError, match="jet 1: momenta must have shape"):
        write_jetclass_file(tmp_path / "a.root", [jets[0], np.ones((2, 3))], [0, 1])
