"""Stage 0 (raysym.stages.jets): jet settings checked before any work, hls4ml files or generated jets,
one split whose test part serves every task."""

import re

import numpy as np
import pytest

import raysym.stages.jets as stage
from raysym.data.hls4ml_layout import write_hls4ml_file
from raysym.data.jetset import min_jets_per_class
from raysym.errors import ConfigError, DataError
from raysym.generate.config import GeneratorConfig
from raysym.stages.jets import (
    MIN_JETS_PER_CLASS,
    JetSettings,
    check_jet_locations,
    generated_dir,
    run_jets_stage,
)
from tests.synthetic import CLASS_LABELS, synthetic_jets
from tests.test_hls4ml_reader import HOSTILE
from tests.test_hls4ml_reader import write as write_reader_file

TASKS = ("g_vs_w", "g_vs_z", "g_vs_t")


def hls4ml_folder(path, classes=("g", "w", "z", "t"), n_per_class=60):
    """Toy jets of ``classes`` written as one hls4ml-layout file in ``path``."""
    jets = synthetic_jets(n_per_class, classes=classes)
    path.mkdir()
    write_hls4ml_file(path / "jetImage_toy.h5", jets.p4[..., [1, 2, 3, 0]].astype(np.float64), jets.label,
                      compression=None)
    return path


def test_too_few_generated_jets_are_refused_but_hls4ml_files_are_not_counted():
    with pytest.raises(ConfigError, match=f"at least {MIN_JETS_PER_CLASS} generated jets per class"):
        JetSettings(generator=GeneratorConfig(jets_per_class=MIN_JETS_PER_CLASS - 1))
    JetSettings(path="anywhere", generator=GeneratorConfig(jets_per_class=1))


def test_check_names_the_classes_the_tasks_need_and_the_generator_lacks(tmp_path):
    settings = JetSettings(generator=GeneratorConfig(jets_per_class=100, classes=("g", "w")))
    with pytest.raises(ConfigError, match="need jet classes t,z"):
        settings.check(TASKS)
    settings.check(("g_vs_w",))
    with pytest.raises(DataError, match="no such file or directory"):
        JetSettings(path=str(tmp_path / "missing")).check(TASKS)


def test_generated_jets_live_in_a_folder_named_by_count_and_seed(tmp_path):
    settings = JetSettings(generator=GeneratorConfig(jets_per_class=300, seed=7))
    assert generated_dir(settings, tmp_path) == str(tmp_path / "data" / "generated-300-s7")
    assert generated_dir(settings, "s3://bucket/run/") == "s3://bucket/run/data/generated-300-s7"


def test_one_split_gives_training_views_and_test_jets_for_every_task(tmp_path):
    settings = JetSettings(path=str(hls4ml_folder(tmp_path / "jets")), split_seed=3)
    train_data, test, key = run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)
    assert {train_data["train"].task, train_data["val"].task} == {"g_vs_w"}
    assert len(train_data["train"]) > len(train_data["val"]) > 0
    assert set(np.unique(test.label)) == {CLASS_LABELS[c] for c in ("g", "w", "z", "t")}
    again, test_again, key_again = run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)
    assert np.array_equal(test_again.p4, test.p4) and np.array_equal(again["train"].y, train_data["train"].y)
    assert key_again == key


def test_the_key_of_the_jets_changes_with_their_content_and_the_split(tmp_path):
    folder = hls4ml_folder(tmp_path / "jets")
    key = run_jets_stage(JetSettings(path=str(folder)), tmp_path / "out", "g_vs_w", TASKS, progress=False).key
    other_split = JetSettings(path=str(folder), split_seed=1)
    assert run_jets_stage(other_split, tmp_path / "out", "g_vs_w", TASKS, progress=False).key != key
    other_jets = JetSettings(path=str(hls4ml_folder(tmp_path / "more", n_per_class=61)))
    assert run_jets_stage(other_jets, tmp_path / "out", "g_vs_w", TASKS, progress=False).key != key


def test_a_test_task_without_its_class_fails_before_training(tmp_path):
    settings = JetSettings(path=str(hls4ml_folder(tmp_path / "jets", classes=("g", "w", "z"))))
    with pytest.raises(DataError, match="too few to split .* for g_vs_t: they hold none of class 't'"):
        run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)


def test_the_generator_minimum_is_enough_for_the_split():
    assert MIN_JETS_PER_CLASS >= min_jets_per_class()


def test_a_one_gluon_file_is_too_few_to_split_not_a_file_without_gluons(tmp_path):
    """A single gluon jet used to be reported as "needs class 'g' ... have none" after the split."""
    folder = tmp_path / "jets"
    folder.mkdir()
    momenta = np.array([[[30.0, 0.0, 0.0, 30.0], [10.0, 1.0, 0.0, 10.1]]])
    write_hls4ml_file(folder / "jetImage_one.h5", momenta, np.array([0]), compression=None)
    with pytest.raises(DataError, match=r"jets from .*jets are too few to split into train/val/test for g_vs_w: "
                                        r"they hold 1 jet\(s\) of class 'g' and none of class 'w', and the split "
                                        r"needs at least 4"):
        run_jets_stage(JetSettings(path=str(folder)), tmp_path / "out", "g_vs_w", ["g_vs_w"], progress=False)


def test_one_gluon_among_many_signal_jets_names_only_the_gluons(tmp_path):
    jets = synthetic_jets(60, classes=("w", "z", "t"))
    p4 = np.concatenate([jets.p4, synthetic_jets(1, seed=1, classes=("g",)).p4])
    labels = np.concatenate([jets.label, [0]])
    (tmp_path / "jets").mkdir()
    write_hls4ml_file(tmp_path / "jets" / "jetImage_toy.h5", p4[..., [1, 2, 3, 0]].astype(np.float64), labels,
                      compression=None)
    settings = JetSettings(path=str(tmp_path / "jets"))
    with pytest.raises(DataError, match=r"for g_vs_w, g_vs_z, g_vs_t: they hold 1 jet\(s\) of class 'g', and"):
        run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_stops_the_stage_with_one_error_naming_it(tmp_path, case):
    change, wanted = HOSTILE[case]
    folder = hls4ml_folder(tmp_path / "jets")
    change(write_reader_file(folder / "jetImage_zz.h5", seed=1))
    with pytest.raises(DataError, match=rf"jetImage_zz.h5: {wanted}"):
        run_jets_stage(JetSettings(path=str(folder)), tmp_path / "out", "g_vs_w", TASKS, progress=False)
    assert not (folder / ".raysym-cache").exists() and not (tmp_path / "out").exists()


@pytest.fixture
def no_generation(monkeypatch):
    """Generation that fails the test if the stage gets as far as it."""
    def generate(*args, **kwargs):
        raise AssertionError("the jets were generated before the cache folder was checked")

    monkeypatch.setattr(stage, "generate", generate)


@pytest.mark.parametrize("under", ["", "sub"])
def test_a_cache_dir_that_is_a_file_is_one_config_error_before_generation(tmp_path, monkeypatch, no_generation,
                                                                           under):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    value = blocker / under if under else blocker
    monkeypatch.setenv("RAYSYM_CACHE_DIR", str(value))
    settings = JetSettings(generator=GeneratorConfig(jets_per_class=100))
    wanted = rf"RAYSYM_CACHE_DIR = {re.escape(str(value))} (is an existing file|cannot be created)"
    with pytest.raises(ConfigError, match=wanted):
        check_jet_locations(settings, "s3://bucket/run")
    with pytest.raises(ConfigError, match=wanted):
        run_jets_stage(settings, "s3://bucket/run", "g_vs_w", TASKS, progress=False)


def test_the_cache_dir_is_not_checked_where_it_is_not_used(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("RAYSYM_CACHE_DIR", str(blocker))
    check_jet_locations(JetSettings(generator=GeneratorConfig(jets_per_class=100)), tmp_path / "out")
    check_jet_locations(JetSettings(path=str(tmp_path)), "s3://bucket/run")
    assert not (tmp_path / "out").exists()


def test_generated_top_tagging_jets_need_top_and_qcd_generator_classes_and_other_data_sets_need_files():
    JetSettings(dataset="toptag", generator=GeneratorConfig(jets_per_class=40, classes=("q", "t"))).check(
        ("top_vs_qcd",))
    for classes in (("w", "t"), ("q",), ("q", "z", "t")):
        with pytest.raises(ConfigError, match="top jets against light-quark or gluon jets"):
            JetSettings(dataset="toptag", generator=GeneratorConfig(jets_per_class=40, classes=classes)).check(
                ("top_vs_qcd",))
    with pytest.raises(ConfigError, match="data set 'jetclass' needs its files \\(--data PATH\\)"):
        JetSettings(dataset="jetclass").check(("tbqq_vs_qcd",))
