"""A study over the training trajectory, end to end in a local Ray (raysym.stages.checkpoints in a whole
study): trials first trained for their best models only run again to keep every epoch along the same
path; every kept epoch is then analysed exactly once; a rerun adds nothing; switching back to the best
model reuses its rows."""

import torch

from raysym.report.selection import select_run
from raysym.store import ResultStore
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke

EPOCHS = 3


def quiet(config, path):
    return run_study(config, path, verbose=0, progress=False)


def models_of(frame):
    """(trial, epoch) of every analysed model in a table, once per model."""
    return sorted(set(zip(frame["trial_id"], frame["epoch"].astype(int))))


def parquet_files(path):
    return {p: p.stat().st_mtime_ns for p in (path / "store").rglob("*.parquet") if "studies" not in p.parts}


def test_kept_epochs_are_analysed_exactly_once_reruns_add_nothing_and_best_reuses_its_rows(study_jets_dir,
                                                                                          tmp_path):
    best_only = smoke(preset("trajectory")).with_overrides(name="path", data={"path": study_jets_dir},
                                                           recipe={"epochs": EPOCHS}, analyse_checkpoints="best")
    first = quiet(best_only, tmp_path)
    store = ResultStore(first.store_path)
    trials = store.load("trials")
    assert first.trained == 2 and len(store.load("hessian")) == 2 and store.load("checkpoints").empty
    model_files = {p: p.stat().st_mtime_ns for p in (tmp_path / "models").glob("*.pt")}

    # Asked for every epoch later: the stored trials run again, only to keep their epochs.
    config = best_only.with_overrides(analyse_checkpoints="every:1")
    later = quiet(config, tmp_path)
    assert later.trained == 0 and not later.errors and later.evaluated == 2 * (EPOCHS - 1)
    wanted = [(t, e) for t in sorted(trials["trial_id"]) for e in range(1, EPOCHS + 1)]
    best = sorted(zip(trials["trial_id"], trials["best_epoch"].astype(int)))
    kept = store.load("checkpoints")
    assert models_of(kept) == wanted
    # Deterministic on the CPU: the rerun retraced each stored trial's path, so its kept best epoch holds
    # exactly the stored best model's weights; the stored model files were not rewritten.
    for trial_id, epoch in best:
        stored = torch.load(tmp_path / "models" / f"{trial_id}.pt", weights_only=False)["model"]
        path = kept[(kept["trial_id"] == trial_id) & (kept["epoch"] == epoch)]["model_path"].iloc[0]
        again = torch.load(path, weights_only=False)["model"]
        assert stored.keys() == again.keys() and all(torch.equal(stored[k], again[k]) for k in stored)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "models").glob("*.pt")} == model_files

    # Every kept epoch of every trial has its rows, once; the best model's are marked.
    for table, per_model in (("hessian", 1), ("smearing", None), ("symmetry", None), ("evaluations", 3)):
        rows = store.load(table)
        assert models_of(rows) == wanted, table
        counts = rows.groupby(["trial_id", "epoch"]).size()
        assert counts.nunique() == 1, table  # none twice, none missing
        assert per_model is None or (counts == per_model).all(), table
        marked = rows[rows["best"].astype(bool)]
        assert sorted(set(zip(marked["trial_id"], marked["epoch"].astype(int)))) == best, table
    # The spectrum and the Goldstone scan describe where training ended: best models only.
    for table in ("spectrum", "goldstone"):
        rows = store.load(table)
        assert models_of(rows) == best and rows["best"].astype(bool).all(), table
    run = select_run(later.store_path, config.name, later.run_key)
    assert len(run.table("hessian")) == 2 and models_of(run.trajectories["hessian"]) == wanted

    files = parquet_files(tmp_path)
    again = quiet(config, tmp_path)
    assert (again.trained, again.evaluated, sum(again.analysed.values())) == (0, 0, 0) and not again.errors
    back = quiet(best_only, tmp_path)
    assert (back.trained, back.evaluated, sum(back.analysed.values())) == (0, 0, 0) and not back.errors
    assert parquet_files(tmp_path) == files
