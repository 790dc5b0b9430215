"""What every Tune stage shares (raysym.stages.tune_trials): which checkpoint a trial resumes from, how a
run cut short by Ctrl-C is told from a finished one, that Tune's signal handler does not outlive its run,
and what a waiting run says about the resources it waits for."""

from __future__ import annotations

import logging
import os
import signal
from types import SimpleNamespace

import pytest
from ray import tune

from raysym.errors import Interrupted
from raysym.stages.tune_trials import (
    CHECKPOINT_FILE,
    PendingTrials,
    fit,
    missing_resources,
    newest_checkpoint,
    ran_to_its_end,
    resource_text,
    restored_checkpoint,
)
from raysym.training.checkpoint import save_checkpoint


def write_checkpoints(trial_dir, epochs: dict[int, int]) -> dict[int, str]:
    """Tune-style checkpoint folders ``checkpoint_NNNNNN`` holding a minimal checkpoint of the given epoch;
    returns index -> folder."""
    folders = {}
    for index, epoch in epochs.items():
        folder = trial_dir / f"checkpoint_{index:06d}"
        folder.mkdir(parents=True)
        save_checkpoint({"format": 1, "config": {}, "epoch": epoch, "model": {}, "optimizer": {}, "rng": {},
                         "best": {}, "history": [{"epoch": e} for e in range(1, epoch + 1)]},
                        str(folder / CHECKPOINT_FILE))
        folders[index] = str(folder)
    return folders


def test_a_trial_resumes_from_its_newest_checkpoint_when_tune_names_an_older_one(tmp_path):
    folders = write_checkpoints(tmp_path / "trial", {3: 4, 4: 5, 5: 6})
    newest, is_named = newest_checkpoint(tune.Checkpoint(folders[3]))
    assert (newest["epoch"], is_named) == (6, False)
    assert newest_checkpoint(tune.Checkpoint(folders[5]))[1] is True


def test_a_newer_checkpoint_than_tune_names_is_reported_again_before_training_goes_on(tmp_path, monkeypatch):
    """A trial whose newest checkpoint is already its last epoch reports nothing more; unless the resume
    reports it, Tune keeps the older, named checkpoint as the trial's result (a 20-epoch trial was stored
    with 18 after a killed driver)."""
    folders = write_checkpoints(tmp_path / "trial", {17: 18, 19: 20})
    reported = []
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint(folders[17]))
    resumed = restored_checkpoint(lambda metrics, checkpoint: reported.append((metrics, checkpoint["epoch"])))
    assert resumed["epoch"] == 20 and reported == [({"epoch": 20}, 20)]
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint(folders[19]))
    reported.clear()
    assert restored_checkpoint(lambda *args: reported.append(args))["epoch"] == 20 and reported == []


def test_a_deleted_named_checkpoint_falls_back_to_the_newest_left(tmp_path):
    folders = write_checkpoints(tmp_path / "trial", {7: 8, 8: 9})
    named = tune.Checkpoint(str(tmp_path / "trial" / "checkpoint_000002"))  # deleted since the state was saved
    assert newest_checkpoint(named)[0]["epoch"] == 9
    assert set(os.listdir(tmp_path / "trial")) == {os.path.basename(f) for f in folders.values()}


def test_newest_is_by_epoch_not_by_folder_number(tmp_path):
    """After a restore from a lagging state, Tune numbers new checkpoints from its old count: a low number
    can hold a later epoch."""
    folders = write_checkpoints(tmp_path / "trial", {4: 12, 9: 10})
    assert newest_checkpoint(tune.Checkpoint(folders[9]))[0]["epoch"] == 12


def test_a_cut_short_newest_checkpoint_falls_back_to_the_one_before(tmp_path, caplog):
    folders = write_checkpoints(tmp_path / "trial", {0: 1, 1: 2})
    path = os.path.join(folders[1], CHECKPOINT_FILE)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    with caplog.at_level(logging.WARNING):
        assert newest_checkpoint(tune.Checkpoint(folders[1]))[0]["epoch"] == 1
    assert "checkpoint_000001 cannot be resumed from" in caplog.text


def test_no_readable_checkpoint_starts_the_trial_again(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert newest_checkpoint(tune.Checkpoint(str(tmp_path / "trial" / "checkpoint_000000"))) == (None, False)
    assert "starts again from its first epoch" in caplog.text


def result(done: bool | None = None, error: Exception | None = None):
    metrics = {} if done is None else {"epoch": 3, "done": done}
    return SimpleNamespace(metrics=metrics, error=error, checkpoint=None, path="/t")


def test_only_a_result_marked_done_ran_to_its_end():
    assert ran_to_its_end(result(done=True))
    assert not ran_to_its_end(result(done=False))
    assert not ran_to_its_end(result())  # never started


class StubTuner:
    """A stand-in for ``tune.Tuner`` whose fit returns given results and, like Tune's, installs its own
    SIGINT handler while it runs and leaves it there."""

    def __init__(self, results):
        self.results = results

    def fit(self):
        signal.signal(signal.SIGINT, lambda *_: None)
        return self.results


def test_fit_raises_interrupted_naming_the_stage_when_a_trial_was_cut_short():
    with pytest.raises(Interrupted, match="distillation: 1 of 3 trial") as caught:
        fit(StubTuner([result(done=True), result(done=False), result(error=RuntimeError("x"))]), "distillation")
    assert caught.value.stage == "distillation"
    assert isinstance(caught.value, KeyboardInterrupt)


def test_fit_returns_a_run_whose_trials_all_finished_or_failed():
    results = [result(done=True), result(error=RuntimeError("x"))]
    assert fit(StubTuner(results), "training") is results


def test_after_a_real_tune_run_the_processes_own_sigint_handler_is_back(ray_local, tmp_path):
    """Tune installs its handler in fit() and leaves it after a run nobody interrupted, which swallowed the
    first Ctrl-C of every later stage."""
    def trainable(config):
        tune.report({"epoch": 1})

    before = signal.getsignal(signal.SIGINT)
    tuner = tune.Tuner(trainable, run_config=tune.RunConfig(storage_path=str(tmp_path), name="one", verbose=0))
    results = fit(tuner, "training")
    assert ran_to_its_end(results[0])
    assert signal.getsignal(signal.SIGINT) is before


def test_missing_resources_are_those_the_whole_cluster_lacks():
    asked = {"CPU": 1.0, "GPU": 0.0, "accelerator": 1.0}
    assert missing_resources(asked, {"CPU": 2.0}) == {"accelerator": 1.0}
    assert missing_resources(asked, {"CPU": 0.5, "accelerator": 4.0}) == {"CPU": 1.0}
    assert resource_text({"CPU": 1.0, "accelerator": 0.25}) == "CPU 1, accelerator 0.25"


def test_a_run_waiting_for_a_resource_no_node_offers_says_so(ray_local, caplog):
    reporter = PendingTrials({"CPU": 1.0, "accelerator": 1.0}, every_s=0.0)
    with caplog.at_level(logging.WARNING):
        reporter.setup()
        waiting = [SimpleNamespace(status="PENDING")] * 2
        reporter.on_step_begin(0, waiting)  # starts the clock
        reporter.on_step_begin(1, waiting)
    assert "no node of this cluster offers accelerator 1 now" in caplog.text
    assert "2 trial(s) have waited" in caplog.text and "no node offers accelerator 1" in caplog.text


def test_a_running_trial_means_nothing_to_report(ray_local, caplog):
    reporter = PendingTrials({"CPU": 1.0}, every_s=0.0)
    with caplog.at_level(logging.WARNING):
        for step in range(3):
            reporter.on_step_begin(step, [SimpleNamespace(status="RUNNING"), SimpleNamespace(status="PENDING")])
    assert "waited" not in caplog.text
