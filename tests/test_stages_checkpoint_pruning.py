"""The bound on a running trial's checkpoints (raysym.stages.checkpoint_pruning): what the experiment state on
storage names is read from a real Tune state, never deleted, and the rest is pruned to the newest few."""

from __future__ import annotations

import os
import time

import pyarrow.fs as pafs
from ray import tune

from raysym.stages.checkpoint_pruning import CheckpointPruner, prune_trial_folder, stored_state_names


def run_trainable(tmp_path, name: str, reports: int, callbacks=(), sleep: float = 0.0) -> str:
    """A one-trial Tune run that reports a checkpoint ``reports`` times; returns the experiment folder."""
    def trainable(config):
        for step in range(reports):
            folder = os.path.join(tune.get_context().get_trial_dir(), f"ck{step}")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "x"), "w") as handle:
                handle.write(str(step))
            time.sleep(sleep)
            tune.report({"step": step}, checkpoint=tune.Checkpoint.from_directory(folder))

    tune.Tuner(trainable, run_config=tune.RunConfig(
        storage_path=str(tmp_path), name=name, verbose=0, callbacks=list(callbacks),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None))).fit()
    return str(tmp_path / name)


def trial_folders(experiment: str) -> list[str]:
    return [os.path.join(experiment, d) for d in os.listdir(experiment) if d.startswith("trainable_")]


def test_the_stored_state_names_each_trials_latest_checkpoint(ray_local, tmp_path):
    experiment = run_trainable(tmp_path, "named", reports=5)
    (folder,) = trial_folders(experiment)
    assert stored_state_names(pafs.LocalFileSystem(), experiment) == {os.path.basename(folder): 4}


def test_a_state_that_cannot_be_read_names_nothing(tmp_path, caplog):
    (tmp_path / "experiment_state-2026.json").write_text("{not json")
    assert stored_state_names(pafs.LocalFileSystem(), str(tmp_path)) == {}
    assert "cannot be read" in caplog.text


def test_only_checkpoints_older_than_the_named_one_and_beyond_the_newest_few_go(tmp_path):
    for number in range(10):
        (tmp_path / f"checkpoint_{number:06d}").mkdir()
    (tmp_path / "result.json").write_text("")
    fs = pafs.LocalFileSystem()
    assert prune_trial_folder(fs, str(tmp_path), None) == []  # the state names nothing: keep everything
    deleted = prune_trial_folder(fs, str(tmp_path), named=5, keep=3)
    assert sorted(os.path.basename(p) for p in deleted) == [f"checkpoint_{n:06d}" for n in range(5)]
    assert sorted(os.listdir(tmp_path)) == [f"checkpoint_{n:06d}" for n in range(5, 10)] + ["result.json"]
    assert prune_trial_folder(fs, str(tmp_path), named=9, keep=3) == [str(tmp_path / "checkpoint_000005"),
                                                                       str(tmp_path / "checkpoint_000006")]


def test_a_real_run_keeps_its_checkpoints_bounded_and_the_named_one_there(ray_local, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNE_GLOBAL_CHECKPOINT_S", "0.1")  # Tune saves its state every 0.1 s here
    experiment = run_trainable(tmp_path, "pruned", reports=40, sleep=0.05,
                               callbacks=[CheckpointPruner(keep=3, every_s=0.0)])
    (folder,) = trial_folders(experiment)
    left = sorted(d for d in os.listdir(folder) if d.startswith("checkpoint_"))
    assert "checkpoint_000039" in left and len(left) < 20, left
    print(f"{len(left)} of 40 checkpoints left")
    named = stored_state_names(pafs.LocalFileSystem(), experiment)[os.path.basename(folder)]
    assert f"checkpoint_{named:06d}" in left
