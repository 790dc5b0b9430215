"""The trajectory preset, timed, and what it measures: λ1(epoch) per bias with its seed spread, the symmetry
violation along training, and the HVPs a warm start from the previous checkpoint's ν1 would save.

Runs ``python studies/full.py --preset trajectory`` into an empty folder (a fresh jets cache too, as
bench/quick_study.py does) and reads the store it wrote. Then, for every pair of consecutive analysed
checkpoints (e, e') of each trial, runs Lanczos on the model at e' with the stage's settings twice: from
the stage's seeded start (cold) and from ν1 of epoch e (warm, stored beside the model by the stage), and
counts HVPs to the same tolerance. Writes ``bench/results/trajectory.md``; ``main()`` returns the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quick_study import timed_study  # noqa: E402

from raysym.artifacts import load_torch  # noqa: E402
from raysym.hessian import lanczos_top_eigenpairs  # noqa: E402
from raysym.report import summaries  # noqa: E402
from raysym.report.selection import select_run  # noqa: E402
from raysym.stages.analysis_hessian import hessian_closure  # noqa: E402
from raysym.stages.jets import run_jets_stage  # noqa: E402
from raysym.store import ResultStore  # noqa: E402
from raysym.study.presets import preset  # noqa: E402
from raysym.training.checkpoint import load_best_model  # noqa: E402


def model_files(run, study_out: str) -> dict[tuple[str, int], str]:
    """(trial, epoch) -> the weights analysed there: kept epochs from the checkpoints table, best models
    from the trials table."""
    store = ResultStore(os.path.join(study_out, "store"))
    kept = store.load("checkpoints")
    files = {(t, int(e)): p for t, e, p in zip(kept["trial_id"], kept["epoch"], kept["model_path"])}
    trials = run.table("trials")
    files.update({(t, int(e)): p for t, e, p in zip(trials["trial_id"], trials["best_epoch"], trials["model_path"])})
    return files


def warm_starts(hessian: pd.DataFrame, files: dict, train_jets, settings) -> pd.DataFrame:
    """Cold against warm Lanczos HVPs (and λ1) on every checkpoint that has an analysed predecessor."""
    rows = []
    for trial_id, path in hessian.sort_values("epoch").groupby("trial_id"):
        path = path.drop_duplicates("epoch")
        for (_, before), (_, after) in zip(path.iloc[:-1].iterrows(), path.iloc[1:].iterrows()):
            model, _, _ = load_best_model(files[(trial_id, int(after["epoch"]))])
            closure = hessian_closure(model, train_jets, settings)
            cold = lanczos_top_eigenpairs(closure, k=settings.top_k, max_iter=settings.lanczos_steps, seed=0)
            warm = lanczos_top_eigenpairs(closure, k=settings.top_k, max_iter=settings.lanczos_steps, seed=0,
                                          start=load_torch(before["nu1_path"], "ν1").double())
            rows.append({"trial_id": trial_id, "bias": after["bias"], "from_epoch": int(before["epoch"]),
                         "epoch": int(after["epoch"]), "cold_hvp": cold.n_hvp, "warm_hvp": warm.n_hvp,
                         "cold_lambda1": cold.top, "warm_lambda1": warm.top,
                         "converged": bool(cold.converged and warm.converged)})
    return pd.DataFrame(rows)


def spread(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean, lowest and highest seed of ``value`` per bias and epoch."""
    return frame.groupby(["bias", "epoch"])[value].agg(["mean", "min", "max", "count"]).reset_index()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/trajectory.md")
    parser.add_argument("--study-out", help="keep the study here (default: a temporary folder)")
    parser.add_argument("--measured", action="store_true",
                        help="--study-out holds a study this bench ran and timed already: only read it")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        study_out = args.study_out or os.path.join(folder, "trajectory")
        timing = Path(study_out) / "bench-timing.json"
        if args.measured:
            wall, stages = json.loads(timing.read_text()).values()
        else:
            env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAYSYM_CACHE_DIR": os.path.join(folder, "cache")}
            wall, stages = timed_study(study_out, env, "trajectory")
            timing.write_text(json.dumps({"wall": wall, "stages": stages}))
        config = preset("trajectory")
        jets = run_jets_stage(config.data, study_out, config.recipe.task, config.evaluation.tasks, progress=False)
        run = select_run(os.path.join(study_out, "store"), config.name)
        hessian = run.trajectories["hessian"]
        hessian = hessian[hessian["k"] == 1]
        warm = warm_starts(hessian, model_files(run, study_out), jets.train_data["train"], config.analyses)
        symmetry = run.trajectories["symmetry"]
        boosts = symmetry[symmetry["transform"] == "boost"].groupby(["bias", "trial_id", "epoch"])["mean"].mean()
        rho, n_points = summaries.flatness_correlation(run)
    lam = spread(hessian.rename(columns={"eigenvalue": "lambda1"}), "lambda1")
    trace = spread(hessian, "trace")
    violation = spread(boosts.reset_index(), "mean")
    saved = warm["cold_hvp"] - warm["warm_hvp"]
    agreement = ((warm["warm_lambda1"] - warm["cold_lambda1"]).abs() / warm["cold_lambda1"].abs()).max()
    n_models = len(hessian.drop_duplicates(["trial_id", "epoch"]))

    def table(frame: pd.DataFrame, digits: str) -> list[str]:
        return ["| bias | epoch | mean | lowest seed | highest seed | seeds |", "|---|---|---|---|---|---|",
                *[f"| {r.bias} | {r.epoch} | {r.mean:{digits}} | {r.min:{digits}} | {r.max:{digits}} | {r.count} |"
                  for r in frame.itertuples()]]

    lines = [
        "# The trajectory preset: wall time, λ1 along training, warm starts", "",
        f"Measured {datetime.date.today()} on this 2-core machine: `python studies/full.py --preset trajectory` into "
        f"an empty folder (`python bench/trajectory.py`): the quick study's {len(hessian['trial_id'].unique())} "
        f"trials with every 2nd epoch kept, {n_models} models evaluated and analysed (best models and kept "
        "epochs), no distillation.", "",
        f"Wall time **{wall:.1f} s**; per stage: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()) + ".", "",
        "## λ1 against epoch (k = 1, the stage's Lanczos; mean and seed range)", "", *table(lam, ".4g"), "",
        "## Tr(H) against epoch (deflated Hutchinson, 32 probes)", "", *table(trace, ".4g"), "",
        "## Symmetry violation against epoch (mean |σ(f(x)) − σ(f(Λx))| over the boost bins)", "",
        *table(violation, ".3g"), "",
        f"Spearman's ρ between λ1 and the in-distribution ROC-AUC over every (trial, epoch): **{rho:.2f}** "
        f"({n_points} points).", "",
        "## Warm starts: Lanczos at epoch e' from ν1 of the previous analysed epoch e", "",
        f"{len(warm)} checkpoint pairs; cold (the stage's seeded start) against warm, same tolerance (1e-6 relative "
        f"Ritz residual) and step limit ({config.analyses.lanczos_steps}). HVPs cold: median "
        f"{statistics.median(warm['cold_hvp']):.0f}, total {warm['cold_hvp'].sum()}; warm: median "
        f"{statistics.median(warm['warm_hvp']):.0f}, total {warm['warm_hvp'].sum()}; saved per checkpoint: median "
        f"{statistics.median(saved):.0f}, mean {saved.mean():.2f}, range {saved.min()}…{saved.max()}. Largest "
        f"relative λ1 difference warm vs cold: {agreement:.1e}. All converged: {bool(warm['converged'].all())}.", "",
        "| trial | bias | from epoch | epoch | cold HVPs | warm HVPs | λ1 cold | λ1 warm |", "|---|---|---|---|---|---|---|---|",
        *[f"| {r.trial_id} | {r.bias} | {r.from_epoch} | {r.epoch} | {r.cold_hvp} | {r.warm_hvp} | {r.cold_lambda1:.5g} | "
          f"{r.warm_lambda1:.5g} |" for r in warm.itertuples()], "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return {"wall_s": wall, "stages": stages, "models": n_models, "rho_lambda1_auc": rho,
            "warm_pairs": len(warm), "cold_hvp_total": int(warm["cold_hvp"].sum()),
            "warm_hvp_total": int(warm["warm_hvp"].sum()), "hvp_saved_median": float(statistics.median(saved)),
            "hvp_saved_mean": float(saved.mean()), "lambda1_rel_diff_max": float(agreement),
            "lambda1": lam.to_dict("records")}


if __name__ == "__main__":
    main()
