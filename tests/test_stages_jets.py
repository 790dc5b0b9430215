"""Stage 0 (raysym.stages.jets): jet settings checked before any work, hls4ml files or generated jets,
one split whose test part serves every task."""

import numpy as np
import pytest

from raysym.data.hls4ml_layout import write_hls4ml_file
from raysym.errors import ConfigError, DataError
from raysym.generate.config import GeneratorConfig
from raysym.stages.jets import MIN_JETS_PER_CLASS, JetSettings, generated_dir, run_jets_stage
from tests.synthetic import CLASS_LABELS, synthetic_jets

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
    JetSettings(hls4ml_dir="anywhere", generator=GeneratorConfig(jets_per_class=1))


def test_check_names_the_classes_the_tasks_need_and_the_generator_lacks(tmp_path):
    settings = JetSettings(generator=GeneratorConfig(jets_per_class=100, classes=("g", "w")))
    with pytest.raises(ConfigError, match="need jet classes t,z"):
        settings.check(TASKS)
    settings.check(("g_vs_w",))
    with pytest.raises(DataError, match="no such file or directory"):
        JetSettings(hls4ml_dir=str(tmp_path / "missing")).check(TASKS)


def test_generated_jets_live_in_a_folder_named_by_count_and_seed(tmp_path):
    settings = JetSettings(generator=GeneratorConfig(jets_per_class=300, seed=7))
    assert generated_dir(settings, tmp_path) == str(tmp_path / "data" / "generated-300-s7")
    assert generated_dir(settings, "s3://bucket/run/") == "s3://bucket/run/data/generated-300-s7"


def test_one_split_gives_training_views_and_test_jets_for_every_task(tmp_path):
    settings = JetSettings(hls4ml_dir=str(hls4ml_folder(tmp_path / "jets")), split_seed=3)
    train_data, test, key = run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)
    assert {train_data["train"].task, train_data["val"].task} == {"g_vs_w"}
    assert len(train_data["train"]) > len(train_data["val"]) > 0
    assert set(np.unique(test.label)) == {CLASS_LABELS[c] for c in ("g", "w", "z", "t")}
    again, test_again, key_again = run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)
    assert np.array_equal(test_again.p4, test.p4) and np.array_equal(again["train"].y, train_data["train"].y)
    assert key_again == key


def test_the_key_of_the_jets_changes_with_their_content_and_the_split(tmp_path):
    folder = hls4ml_folder(tmp_path / "jets")
    key = run_jets_stage(JetSettings(hls4ml_dir=str(folder)), tmp_path / "out", "g_vs_w", TASKS, progress=False).key
    other_split = JetSettings(hls4ml_dir=str(folder), split_seed=1)
    assert run_jets_stage(other_split, tmp_path / "out", "g_vs_w", TASKS, progress=False).key != key
    other_jets = JetSettings(hls4ml_dir=str(hls4ml_folder(tmp_path / "more", n_per_class=61)))
    assert run_jets_stage(other_jets, tmp_path / "out", "g_vs_w", TASKS, progress=False).key != key


def test_a_test_task_without_its_class_fails_before_training(tmp_path):
    settings = JetSettings(hls4ml_dir=str(hls4ml_folder(tmp_path / "jets", classes=("g", "w", "z"))))
    with pytest.raises(DataError, match="task 'g_vs_t' needs class 't'"):
        run_jets_stage(settings, tmp_path / "out", "g_vs_w", TASKS, progress=False)
