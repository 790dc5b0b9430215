"""JetSet container, task views and the seeded class-stratified splits (docs/methods.md §1.1)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from raysym.data.hls4ml_layout import CLASS_NAMES
from raysym.data.jetset import (
    PAPER_FRACTIONS,
    PAPER_SPLIT_COUNTS,
    JetSet,
    TaskJets,
    check_splittable,
    min_jets_per_class,
    split,
    split_train_val,
    task_selection,
    task_view,
)
from raysym.data.tasks import HLS4ML_TASKS, TaskSpec
from raysym.errors import ConfigError, DataError

TASKS = {task.name: (task.background[0], task.signal[0]) for task in HLS4ML_TASKS}


def make_set(per_class=(20, 20, 20, 20, 20), n_constituents=32, seed=0, source="unit-test") -> JetSet:
    """A JetSet with ``per_class[i]`` jets of class i, in shuffled order, random but valid momenta."""
    rng = np.random.default_rng(seed)
    label = rng.permutation(np.repeat(np.arange(len(per_class)), per_class)).astype(np.int8)
    n = len(label)
    mask = np.arange(n_constituents)[None, :] < rng.integers(1, n_constituents + 1, n)[:, None]
    p4 = rng.normal(size=(n, n_constituents, 4)).astype(np.float32) * mask[..., None]
    return JetSet(p4=p4, mask=mask, label=label, jet_pt=rng.uniform(800, 1200, n),
                  jet_eta=rng.normal(size=n), jet_mass=rng.uniform(0, 200, n), source=source)


def test_jetset_converts_to_documented_dtypes():
    jets = make_set()
    assert jets.p4.dtype == np.float32 and jets.mask.dtype == np.bool_
    assert jets.label.dtype == np.int8
    assert all(getattr(jets, k).dtype == np.float32 for k in ("jet_pt", "jet_eta", "jet_mass"))
    assert len(jets) == 100 and jets.n_constituents == 32


def test_jetset_keeps_arrays_of_the_right_dtype_without_copy():
    jets = make_set()
    again = JetSet(jets.p4, jets.mask, jets.label, jets.jet_pt, jets.jet_eta, jets.jet_mass)
    assert again.p4 is jets.p4 and again.mask is jets.mask


@pytest.mark.parametrize("field, bad, message", [
    ("p4", np.zeros((100, 32, 3), np.float32), "p4 has shape"),
    ("mask", np.zeros((100, 31), bool), "mask has shape"),
    ("label", np.zeros(99, np.int8), "label has shape"),
    ("jet_pt", np.zeros((100, 1), np.float32), "jet_pt has shape"),
    ("label", np.full(100, 5, np.int8), "outside 0..4"),
    ("label", np.zeros(100, np.float32), "label has dtype float32"),
    ("mask", np.zeros((100, 32), np.float32), "mask has dtype"),
])
def test_jetset_rejects_wrong_shape_or_dtype_naming_source(field, bad, message):
    jets = make_set()
    fields = {k: getattr(jets, k) for k in ("p4", "mask", "label", "jet_pt", "jet_eta", "jet_mass")}
    fields[field] = bad
    with pytest.raises(DataError, match=f"unit-test.*{message}"):
        JetSet(**fields, source="unit-test")


def test_subset_selects_rows_of_every_array_and_keeps_source():
    jets = make_set()
    sub = jets.subset([3, 1, 4])
    assert len(sub) == 3 and sub.source == jets.source
    for name in ("p4", "mask", "label", "jet_pt", "jet_eta", "jet_mass"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(jets, name)[[3, 1, 4]])
    assert len(jets.subset(jets.label == 0)) == 20
    assert len(jets.subset([])) == 0


def test_class_counts_lists_every_class_including_absent_ones():
    assert make_set((3, 0, 2, 0, 1)).class_counts() == {"g": 3, "q": 0, "w": 2, "z": 0, "t": 1}


def test_to_torch_shares_writable_memory_and_copies_read_only_arrays():
    import torch

    jets = make_set()
    tensors = jets.to_torch()
    assert tensors["p4"].dtype == torch.float32 and tensors["mask"].dtype == torch.bool
    assert tensors["label"].dtype == torch.int64
    assert tensors["p4"].data_ptr() == jets.p4.__array_interface__["data"][0]
    jets.p4.flags.writeable = False  # as arrays come out of Ray's object store
    frozen = jets.to_torch()
    assert frozen["p4"].data_ptr() != jets.p4.__array_interface__["data"][0]
    torch.testing.assert_close(frozen["p4"], torch.from_numpy(jets.p4.copy()))


def test_jetset_pickles_to_an_equal_set():
    jets = make_set()
    back = pickle.loads(pickle.dumps(jets, protocol=5))
    assert type(back) is JetSet and back.source == jets.source
    np.testing.assert_array_equal(back.p4, jets.p4)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_view_keeps_the_two_classes_with_gluon_as_zero(task):
    jets = make_set()
    view = task_view(jets, task)
    assert isinstance(view, TaskJets) and view.task == task and view.task_spec(task).classes == TASKS[task]
    signal = CLASS_NAMES.index(TASKS[task][1])
    assert set(np.unique(view.label)) == {0, signal}
    assert view.y.dtype == np.float32
    np.testing.assert_array_equal(view.y, (view.label == signal).astype(np.float32))
    assert len(view) == 40
    assert len(jets.for_task(task)) == 40


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_selection_picks_the_same_jets_and_targets_as_the_view(task):
    jets = make_set((7, 5, 6, 4, 3), seed=2)
    keep, y = task_selection(jets.label, jets.task_spec(task))
    view = task_view(jets, task)
    np.testing.assert_array_equal(jets.p4[keep], view.p4)
    np.testing.assert_array_equal(y, view.y)


def test_task_view_of_unknown_task_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown task 'g_vs_x'"):
        task_view(make_set(), "g_vs_x")


def test_task_view_with_a_class_missing_names_class_task_and_source():
    jets = make_set((10, 10, 10, 0, 10), source="/data/jets")
    with pytest.raises(DataError, match=r"task 'g_vs_z' needs class 'z'.*/data/jets"):
        task_view(jets, "g_vs_z")
    with pytest.raises(DataError, match=r"task 'g_vs_w' needs class 'g'"):
        task_view(make_set((0, 10, 10, 10, 10)), "g_vs_w")


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    jets = make_set((200, 150, 120, 90, 60))
    a, b, c = split(jets, seed=1), split(jets, seed=1), split(jets, seed=2)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a[part].p4, b[part].p4)
    assert not np.array_equal(a["train"].jet_pt, c["train"].jet_pt)


def test_split_parts_are_disjoint_and_cover_every_jet():
    jets = make_set((200, 150, 120, 90, 60))
    ids = np.arange(len(jets), dtype=np.float32)
    tagged = JetSet(jets.p4, jets.mask, jets.label, ids, jets.jet_eta, jets.jet_mass)
    parts = split(tagged, seed=3)
    seen = np.concatenate([parts[k].jet_pt for k in ("train", "val", "test")])
    assert len(seen) == len(jets) and len(np.unique(seen)) == len(jets)


def test_split_is_stratified_and_honours_the_paper_fractions():
    jets = make_set((1000, 700, 500, 300, 100))
    parts = split(jets, seed=0)
    for part, fraction in zip(("train", "val", "test"), PAPER_FRACTIONS):
        for name, total in jets.class_counts().items():
            assert abs(parts[part].class_counts()[name] - fraction * total) <= 1


def test_paper_fractions_reproduce_the_paper_counts():
    n = sum(PAPER_SPLIT_COUNTS)
    half = np.zeros(n, dtype=np.int8)
    half[n // 2:] = 2  # g and w, as in g_vs_w
    empty = np.zeros((n, 1, 4), np.float32)
    jets = JetSet(empty, np.ones((n, 1), bool), half, np.zeros(n), np.zeros(n), np.zeros(n))
    sizes = [len(p) for p in split(jets, seed=0).values()]
    assert all(abs(s - c) <= 1 for s, c in zip(sizes, PAPER_SPLIT_COUNTS)) and sum(sizes) == n


def test_split_honours_custom_fractions_and_keeps_task_targets():
    view = task_view(make_set((300, 0, 300, 0, 0)), "g_vs_w")
    parts = split(view, seed=5, fractions=(0.5, 0.25, 0.25))
    assert [len(parts[k]) for k in ("train", "val", "test")] == [300, 150, 150]
    assert all(isinstance(p, TaskJets) for p in parts.values())
    for part in parts.values():
        np.testing.assert_array_equal(part.y, (part.label == 2).astype(np.float32))
        assert part.y.mean() == 0.5


@pytest.mark.parametrize("fractions", [
    (0.5, 0.5), (0.5, 0.3, 0.3), (-0.1, 0.6, 0.5), (0.0, 0.5, 0.5), (float("nan"), 0.5, 0.5),
    ("a", 0.5, 0.5),
])
def test_split_rejects_invalid_fractions(fractions):
    with pytest.raises(ConfigError, match="fraction"):
        split(make_set(), seed=0, fractions=fractions)


def test_split_train_val_renormalises_the_paper_fractions():
    jets = make_set((2000, 0, 2000, 0, 0))
    parts = split_train_val(jets, seed=0)
    assert set(parts) == {"train", "val"}
    expected = PAPER_SPLIT_COUNTS[0] / sum(PAPER_SPLIT_COUNTS[:2])
    assert abs(len(parts["train"]) - expected * len(jets)) <= 2
    assert len(parts["train"]) + len(parts["val"]) == len(jets)
    assert split_train_val(jets, seed=0, fractions=(0.75, 0.25))["val"].class_counts()["w"] == 500
    with pytest.raises(ConfigError):
        split_train_val(jets, seed=0, fractions=(0.0, 0.0))



@pytest.mark.parametrize("fractions", [PAPER_FRACTIONS, (0.8, 0.1, 0.1), (1 / 3, 1 / 3, 1 / 3), (0.5, 0.5, 0.0)])
def test_min_jets_per_class_is_the_count_from_which_a_split_reaches_every_part(fractions):
    def reaches_every_part(n: int) -> bool:  # one class of n jets, split for real
        parts = split(make_set((n, 0, 0, 0, 0)), seed=n, fractions=fractions)
        return all(len(parts[name]) > 0 for name, f in zip(("train", "val", "test"), fractions) if f > 0)

    needed = min_jets_per_class(fractions)
    assert not reaches_every_part(needed - 1)
    assert all(reaches_every_part(n) for n in range(needed, 150))


def test_the_paper_split_needs_four_jets_of_a_class():
    assert min_jets_per_class() == min_jets_per_class(PAPER_FRACTIONS) == 4


def test_a_class_too_small_to_split_names_it_its_count_and_the_source():
    jets = make_set((1, 0, 30, 30, 0), source="/data/one-gluon.h5")
    with pytest.raises(DataError, match=r"jets from /data/one-gluon.h5 are too few to split into train/val/test "
                                        r"for g_vs_w, g_vs_t: they hold 1 jet\(s\) of class 'g' and none of class 't'"
                                        r", and the split needs at least 4 jets"):
        check_splittable(jets, ["g_vs_w", "g_vs_t"])


def test_a_class_of_the_minimum_count_passes_the_check_and_reaches_every_part():
    jets = make_set((4, 0, 4, 0, 0))
    check_splittable(jets, ["g_vs_w"])
    for part in split(jets, seed=0).values():
        assert part.class_counts()["g"] >= 1 and part.class_counts()["w"] >= 1


def _toy(per_class=(12, 9, 7), weight=None, source="toy") -> JetSet:
    """Jets of a three-class data set whose task groups two classes as background."""
    base = make_set(per_class, source=source)
    tasks = (TaskSpec("a_vs_bc", ("a",), ("b", "c"), "in"), TaskSpec("c_vs_b", ("c",), ("b",), "far"))
    return JetSet(p4=base.p4, mask=base.mask, label=base.label, jet_pt=base.jet_pt, jet_eta=base.jet_eta,
                  jet_mass=base.jet_mass, source=source, classes=("a", "b", "c"), tasks=tasks, dataset="toy",
                  weight=weight)


def test_a_task_of_several_background_classes_takes_them_all_and_keeps_weights_and_meaning():
    weight = np.linspace(0.5, 2.0, 28)
    jets = _toy(weight=weight)
    view = jets.for_task("a_vs_bc")
    assert len(view) == 28 and view.y.sum() == 12 and view.classes == ("a", "b", "c") and view.dataset == "toy"
    np.testing.assert_array_equal(view.y, (view.label == 0).astype(np.float32))
    np.testing.assert_array_equal(view.weight, weight.astype(np.float32))
    far = jets.for_task("c_vs_b")
    assert len(far) == 16 and far.y.sum() == 7 and jets.training_task.name == "a_vs_bc"
    parts = split(jets, seed=1)
    assert sum(len(p) for p in parts.values()) == 28 and all(p.weight is not None for p in parts.values())
    assert jets.class_counts() == {"a": 12, "b": 9, "c": 7}
    back = pickle.loads(pickle.dumps(view))
    assert back.tasks == view.tasks and back.task == "a_vs_bc"


def test_what_the_labels_mean_is_part_of_the_fingerprint_but_not_for_hls4ml_jets():
    jets = _toy()
    assert jets.fingerprint() != make_set((12, 9, 7), source="toy").fingerprint()
    assert make_set().fingerprint() == make_set(source="elsewhere").fingerprint()
    weighted = _toy(weight=np.ones(28))
    assert weighted.fingerprint() != jets.fingerprint()


def test_a_task_naming_a_class_the_set_lacks_or_bad_weights_are_clear_errors():
    with pytest.raises(ConfigError, match="task 'x_vs_a' uses class\\(es\\) x"):
        JetSet(p4=np.zeros((1, 2, 4)), mask=np.ones((1, 2), bool), label=[0], jet_pt=[1.0], jet_eta=[0.0],
               jet_mass=[0.0], classes=("a", "b"), tasks=(TaskSpec("x_vs_a", ("x",), ("a",), "in"),))
    with pytest.raises(DataError, match="1 weight\\(s\\) negative or not finite, first at jet 3"):
        _toy(weight=np.r_[np.ones(3), -1.0, np.ones(24)])
    with pytest.raises(ConfigError, match="unknown task 'g_vs_w'; data set 'toy' declare"):
        _toy().for_task("g_vs_w")
