"""A projection (not a measurement) of what the paper preset's training costs on cluster.yaml's instances.

Inputs are measured throughputs (jets/s of one trial of the paper-size teacher, per penalty) and instance
prices; the output is trial-hours, wall hours on the cluster's workers and dollars. The trials are
packed as the paper preset asks (its CPUs and GPUs per trial against the GPU worker's resources in
cluster.yaml: four trials per g5.xlarge), so the rates must be one trial's jets/s while that many share
the GPU: bench/gpu_training.py's per-trial column at that trial count. Without a GPU measurement, pass
the CPU figures of bench/results/training.md and a range of assumed GPU speed-ups (``--speedup``): the
result is then a projection under that stated assumption. With a GPU measurement pass ``--speedup 1``.

    python bench/cluster_cost.py --jets-per-s none=346.6 seal=143.4 --speedup 1 10 30

Counts only the training steps of stage 1 (no validation pass, evaluation, analyses or distillation).
A worker is paid from the start until its last trial ends.
"""

from __future__ import annotations

import argparse

import yaml

from raysym.data.jetset import PAPER_SPLIT_COUNTS
from raysym.study.presets import preset


def train_jets(config) -> int:
    """Training jets of the paper preset's task: the two classes' generated jets times the train share."""
    return round(2 * config.data.generator.jets_per_class * PAPER_SPLIT_COUNTS[0] / sum(PAPER_SPLIT_COUNTS))


def worker_resources(path: str = "cluster.yaml") -> tuple[float, float]:
    """(CPUs, GPUs) of the cluster's GPU worker node type, as its ``resources`` declare them."""
    with open(path) as f:
        node_types = yaml.safe_load(f)["available_node_types"]
    for spec in node_types.values():
        resources = spec.get("resources") or {}
        if resources.get("GPU", 0) > 0:
            return float(resources.get("CPU", 0)), float(resources["GPU"])
    raise SystemExit(f"{path} declares no worker node type with GPUs")


def schedule(trial_hours: list[float], workers: int, per_worker: int) -> tuple[float, float]:
    """(wall hours, paid worker-hours) of longest-first list scheduling on ``workers`` nodes of ``per_worker``
    trial slots each; free slots of busy workers are filled first, so no more workers start than needed."""
    slots = [[0.0] * per_worker for _ in range(workers)]
    for hours in sorted(trial_hours, reverse=True):
        row = min(slots, key=min)
        row[row.index(min(row))] += hours
    return max(max(row) for row in slots), sum(max(row) for row in slots)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets-per-s", nargs="+", required=True, metavar="PENALTY=RATE")
    parser.add_argument("--speedup", type=float, nargs="+", default=[1.0])
    parser.add_argument("--worker-usd-per-h", type=float, default=1.006, help="g5.xlarge on demand, us-west-2")
    parser.add_argument("--head-usd-per-h", type=float, default=0.192, help="m5.xlarge on demand, us-west-2")
    parser.add_argument("--workers", type=int, default=4, help="cluster.yaml's max_workers")
    parser.add_argument("--cluster", default="cluster.yaml", help="the launcher config whose GPU worker to pack")
    args = parser.parse_args(argv)
    rates = {k: float(v) for k, v in (text.split("=") for text in args.jets_per_s)}
    config = preset("paper")
    jets, epochs, seeds = train_jets(config), config.recipe.epochs, len(config.seeds)
    cpus, gpus = worker_resources(args.cluster)
    per_worker = config.training.trials_per_node(cpus, gpus)
    print(f"paper preset: {jets:,} training jets, {epochs} epochs, {seeds} seeds, biases "
          + ", ".join(b.name for b in config.biases) + f"; {per_worker} trial(s) per worker of {cpus:g} CPUs and "
          f"{gpus:g} GPU(s) ({config.training.cpus_per_trial:g} CPU, {config.training.gpus_per_trial:g} GPU each)")
    print(f"| speed-up | trial-hours | wall h on {args.workers} workers | worker-hours | workers $ | head $ | total $ |")
    print("|---|---|---|---|---|---|---|")
    for speedup in args.speedup:
        trials = [jets * epochs / (rates[b.penalty] * speedup) / 3600 for b in config.biases for _ in range(seeds)]
        wall, worker_hours = schedule(trials, args.workers, per_worker)
        workers, head = worker_hours * args.worker_usd_per_h, wall * args.head_usd_per_h
        print(f"| {speedup:g} | {sum(trials):.1f} | {wall:.1f} | {worker_hours:.1f} | {workers:.2f} | {head:.2f} "
              f"| {workers + head:.2f} |")


if __name__ == "__main__":
    main()
