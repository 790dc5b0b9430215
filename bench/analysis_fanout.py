"""The quick study's analysis stage on one worker and on two: wall times, speed-up, identical numbers.

Runs :func:`raysym.stages.analyses.run_analysis_stage` on the quick study's four trained teachers (from a
finished ``python studies/full.py`` in ``--study-out``) into fresh stores, ``--repeats`` times each way,
interleaved (one worker, two workers, one, two, ...), with Ray started before the clock for each: a
local Ray of 1 CPU, then of 2 CPUs. Every run's tables must equal the first run's, number for number.
Also times each kind of job once on one trial, to check the cost model that orders jobs longest first
(:func:`raysym.stages.analysis_spec.job_cost`). Writes ``bench/results/analysis_fanout.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import ray
import torch

from raysym.ray_session import ensure_ray
from raysym.stages.analyses import run_analysis_stage
from raysym.stages.analysis_hessian import probe_groups
from raysym.stages.analysis_registry import registered
from raysym.stages.analysis_spec import Inputs, Job, job_cost, run_job
from raysym.stages.jets import run_jets_stage
from raysym.store import ResultStore
from raysym.study.presets import preset

TABLES = {"hessian": ["eigenvalue", "trace", "trace_stderr", "n_hvp"], "spectrum": ["eigenvalue", "density"],
          "goldstone": ["direction", "epsilon", "loss", "r_mean", "r_std"], "smearing": ["sigma", "roc_auc", "accuracy"]}


def numbers(store: ResultStore) -> dict[str, pd.DataFrame]:
    """Every analysis table's numbers, sorted, for an exact comparison between runs."""
    out = {}
    for table, columns in TABLES.items():
        frame = store.load(table)[["trial_id", *columns]]
        out[table] = frame.sort_values(["trial_id", *columns[:2]]).reset_index(drop=True)
    return out


def job_seconds(trials: pd.DataFrame, train, test, settings, task: str) -> list[tuple[str, float, float]]:
    """(kind, seconds, cost) of one job of each kind on the first trial, in this process on one thread."""
    trial = trials.iloc[0]
    path, n_test = trial["model_path"], len(test.for_task(task))
    inputs, specs = Inputs(train, test, task, settings), {spec.name: spec for spec in registered()}
    jobs = [Job(trial["trial_id"], path, "eigen", 0, analysis="hessian"),
            Job(trial["trial_id"], path, "trace", probe_groups(settings.trace_probes, settings.probes_per_task)[0],
                analysis="hessian"),
            Job(trial["trial_id"], path, "smearing", analysis="smearing")]
    out = []
    for job in jobs:
        outcome = run_job(job, inputs, specs)
        out.append((job.kind, outcome["seconds"], job_cost(job, settings, n_test)))
        if job.kind == "eigen":
            nu1 = Path(tempfile.mkdtemp()) / "nu1.pt"
            torch.save(outcome["result"]["nu1"], nu1)
    goldstone = Job(trial["trial_id"], path, "goldstone", needs=str(nu1), analysis="goldstone")
    outcome = run_job(goldstone, inputs, specs)
    out.append(("goldstone", outcome["seconds"], job_cost(goldstone, settings, n_test)))
    return out


def system_cpu_seconds() -> float:
    """CPU seconds so far of Ray's own processes (raylet, GCS, monitors; not the workers running tasks)."""
    import psutil  # Ray brings it

    total = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            text = " ".join(process.info["cmdline"] or [process.info["name"] or ""])
            if ("ray" in text and "ray::" not in (process.info["name"] or "") and process.pid != os.getpid()
                    and ("raylet" in text or "gcs_server" in text or "ray/_private" in text or "ray/dashboard" in text
                         or "ray/autoscaler" in text)):
                times = process.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-out", default="raysym-runs/quick", help="a finished quick study's folder")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results/analysis_fanout.md")
    args = parser.parse_args(argv)
    quick = preset("quick")
    settings = quick.analyses
    torch.set_num_threads(1)
    train_data, test_jets, _ = run_jets_stage(quick.data, Path(args.study_out), quick.recipe.task,
                                              quick.evaluation.tasks, progress=False)
    trials = ResultStore(Path(args.study_out) / "store").load("trials")
    trials = trials[trials["study"] == quick.name].sort_values("trial_id").drop_duplicates("trial_id")
    if trials.empty:
        raise SystemExit(f"no quick-study trials in {args.study_out}: run `python studies/full.py` first")
    costs = job_seconds(trials, train_data["train"], test_jets, settings, quick.recipe.task)

    walls: dict[int, list[float]] = {1: [], 2: []}
    job_total: dict[int, list[float]] = {1: [], 2: []}  # seconds inside jobs, all workers together
    busy: dict[int, list[float]] = {1: [], 2: []}  # that ÷ (workers × wall): how full the workers were
    driver_cpu: dict[int, list[float]] = {1: [], 2: []}
    system_cpu: dict[int, list[float]] = {1: [], 2: []}
    reference, identical = None, True
    for _ in range(args.repeats):
        for workers in (1, 2):
            ray.shutdown()
            ensure_ray(num_cpus=workers)
            with tempfile.TemporaryDirectory() as out:
                store = ResultStore(out)
                start, cpu, system = time.perf_counter(), time.process_time(), system_cpu_seconds()
                timeline: list[dict] = []
                run_analysis_stage(store, trials, train_data["train"], test_jets, settings, progress=False,
                                   timeline=timeline)
                walls[workers].append(time.perf_counter() - start)
                job_total[workers].append(sum(entry["seconds"] for entry in timeline))
                busy[workers].append(job_total[workers][-1] / (workers * walls[workers][-1]))
                driver_cpu[workers].append(time.process_time() - cpu)
                system_cpu[workers].append(system_cpu_seconds() - system)
                tables = numbers(store)
            if reference is None:
                reference = tables
            identical &= all(tables[t].equals(reference[t]) for t in TABLES)
    ray.shutdown()
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    per_unit = {kind: seconds / cost for kind, seconds, cost in costs}
    lines = [
        "# Analysis stage fan-out: the quick study on one and two workers", "",
        f"Measured {datetime.date.today()} on this 2-core machine (torch 1 thread per task), "
        f"`python bench/analysis_fanout.py` after `python studies/full.py`. {len(trials)} small teachers; per model "
        f"Lanczos {settings.lanczos_steps} steps, {settings.trace_probes} Hutchinson probes in groups of "
        f"{settings.probes_per_task}, the SLQ spectrum from the Lanczos run, smearing at "
        f"{len(settings.smearing_sigmas)} σ, a {settings.goldstone_points}-point Goldstone scan and its control; "
        f"{settings.hessian_jets} Hessian jets. Ray started before each timing (a local Ray of 1, then 2 CPUs); "
        f"{args.repeats} repeats each, interleaved.", "",
        "| workers | wall times (s) | median (s) | seconds inside jobs (median) | workers busy (median) | "
        "driver CPU (s) | Ray's own processes' CPU (s) |",
        "|---|---|---|---|---|---|---|",
        *[f"| {w} | {', '.join(f'{t:.1f}' for t in walls[w])} | {statistics.median(walls[w]):.1f} | "
          f"{statistics.median(job_total[w]):.1f} | {100 * statistics.median(busy[w]):.1f} % | "
          f"{statistics.median(driver_cpu[w]):.1f} | {statistics.median(system_cpu[w]):.1f} |" for w in (1, 2)],
        "", f"Speed-up on 2 workers: **{one / two:.2f}×** (medians; the repeats' own ratios, one-worker run over "
        f"the two-worker run after it: {', '.join(f'{a / b:.2f}' for a, b in zip(walls[1], walls[2]))}). "
        f"Every run's tables identical to the first: **{identical}**.", "",
        "The speed-up is 2 × (workers busy on 2 ÷ busy on 1) × (seconds inside jobs on 1 ÷ on 2): the first "
        "factor is the scheduling (idle workers: start-up, the tail, waiting for the driver), the second what "
        "two jobs running at once cost each other on this machine (shared caches and memory bandwidth).", "",
        "## The cost model that orders jobs longest first", "",
        "One job of each kind on one model, one thread, in this process (`job_cost` counts jet-HVPs, with "
        "the measured factors `GOLDSTONE_PER_POINT_JET` and `SMEARING_PER_SIGMA_JET`; a Lanczos run is counted "
        "at its step limit but stops sooner when it converges, and is started first anyway since its "
        "model's Goldstone scan waits for it):", "",
        "| job | seconds | cost (jet-HVPs) | ms per 1000 cost units |", "|---|---|---|---|",
        *[f"| {kind} | {seconds:.2f} | {cost:.0f} | {1e6 * seconds / cost:.2f} |" for kind, seconds, cost in costs], "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return {"one_worker_s": one, "two_workers_s": two, "speedup": one / two, "identical": identical,
            "busy": {w: statistics.median(busy[w]) for w in (1, 2)},
            "job_seconds": {w: statistics.median(job_total[w]) for w in (1, 2)},
            "seconds_per_cost": per_unit}


if __name__ == "__main__":
    main()
