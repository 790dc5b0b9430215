"""A projection (not a measurement) of what the paper preset's training costs on cluster.yaml's instances.

Inputs are measured throughputs (jets/s of a training step of the paper-size teacher, per penalty) and
instance prices; the output is trial-hours, wall hours on the cluster's workers and dollars. Without a
GPU measurement, pass the CPU figures of bench/results/training.md and a range of assumed GPU speed-ups
(``--speedup``): the result is then a projection under that stated assumption. With a GPU at hand,
measure the teacher's jets/s there (bench/training_throughput.py) and pass it with ``--speedup 1``.

    python bench/cluster_cost.py --jets-per-s none=346.6 seal=143.4 --speedup 1 10 30

Counts only the training steps of stage 1 (no validation pass, evaluation, analyses or distillation).
"""

from __future__ import annotations

import argparse
import heapq

from raysym.data.jetset import PAPER_SPLIT_COUNTS
from raysym.study.presets import preset


def train_jets(config) -> int:
    """Training jets of the paper preset's task: the two classes' generated jets times the train share."""
    return round(2 * config.data.generator.jets_per_class * PAPER_SPLIT_COUNTS[0] / sum(PAPER_SPLIT_COUNTS))


def wall_hours(trial_hours: list[float], workers: int) -> float:
    """Longest-first list scheduling of the trials on ``workers`` single-trial workers."""
    finish = [0.0] * workers
    for hours in sorted(trial_hours, reverse=True):
        heapq.heapreplace(finish, finish[0] + hours)
    return max(finish)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets-per-s", nargs="+", required=True, metavar="PENALTY=RATE")
    parser.add_argument("--speedup", type=float, nargs="+", default=[1.0])
    parser.add_argument("--worker-usd-per-h", type=float, default=1.006, help="g5.xlarge on demand, us-west-2")
    parser.add_argument("--head-usd-per-h", type=float, default=0.192, help="m5.xlarge on demand, us-west-2")
    parser.add_argument("--workers", type=int, default=4, help="cluster.yaml's max_workers")
    args = parser.parse_args(argv)
    rates = {k: float(v) for k, v in (text.split("=") for text in args.jets_per_s)}
    config = preset("paper")
    jets, epochs, seeds = train_jets(config), config.recipe.epochs, len(config.seeds)
    print(f"paper preset: {jets:,} training jets, {epochs} epochs, {seeds} seeds, biases "
          + ", ".join(b.name for b in config.biases))
    print("| speed-up | trial-hours | wall h on %d workers | workers $ | head $ | total $ |" % args.workers)
    print("|---|---|---|---|---|---|")
    for speedup in args.speedup:
        trials = [jets * epochs / (rates[b.penalty] * speedup) / 3600 for b in config.biases for _ in range(seeds)]
        wall = wall_hours(trials, args.workers)
        workers, head = sum(trials) * args.worker_usd_per_h, wall * args.head_usd_per_h
        print(f"| {speedup:g} | {sum(trials):.1f} | {wall:.1f} | {workers:.2f} | {head:.2f} | {workers + head:.2f} |")


if __name__ == "__main__":
    main()
