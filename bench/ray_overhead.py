"""Ray overhead of the training stage: a trial's throughput inside Tune ÷ the same training outside Ray.

Trains the quick preset's unconstrained teacher for a few epochs twice on the same generated jets — once
by calling ``raysym.training.train`` directly, once as a one-trial Tune study (1 CPU per trial) — and
writes jets/s (epochs after the first, averaged) and wall times to ``bench/results/ray_overhead.md``.
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from raysym.ray_session import ensure_ray
from raysym.stages.jets import run_jets_stage
from raysym.stages.training import training_tuner
from raysym.study.presets import preset
from raysym.training import Bias, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--data-out", default="raysym-runs/quick", help="study dir whose generated jets to reuse")
    parser.add_argument("--out", default="bench/results/ray_overhead.md")
    args = parser.parse_args()
    config = preset("quick").with_overrides(name="overhead", biases=(Bias(),), seeds=(0,),
                                            recipe={"epochs": args.epochs})
    ensure_ray()
    train_data, _, data_key = run_jets_stage(config.data, Path(args.data_out), config.recipe.task,
                                             config.evaluation.tasks, progress=False)

    torch.set_num_threads(1)
    trials = config.trials(data_key)
    start = time.perf_counter()
    plain = train(next(iter(trials.values())), train_data)
    plain_wall = time.perf_counter() - start
    plain_rate = np.mean([h["jets_per_second"] for h in plain.history[1:]])

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = training_tuner(config.name, trials, config.training, train_data, out, verbose=0).fit()
        tune_wall = time.perf_counter() - start
        frame = results[0].metrics_dataframe
    tune_rate = frame["jets_per_second"].iloc[1:].mean()
    text = "\n".join([
        "# Ray overhead of the training stage",
        "",
        f"Measured {datetime.date.today()} on this 2-core machine: quick preset, unconstrained small teacher, "
        f"{len(train_data['train'])} training jets, batch {config.recipe.batch_size}, {args.epochs} epochs, "
        "torch on 1 thread "
        "in both runs. `python bench/ray_overhead.py` (after `python studies/full.py` made the jets).",
        "",
        "| run | jets/s (epochs 2+) | wall time (s) |",
        "|---|---|---|",
        f"| `train()` outside Ray | {plain_rate:.0f} | {plain_wall:.1f} |",
        f"| one-trial Tune study | {tune_rate:.0f} | {tune_wall:.1f} |",
        "",
        f"Throughput inside Tune ÷ outside: **{tune_rate / plain_rate:.3f}**. Wall time ratio (Tune start-up, "
        f"trial scheduling and a checkpoint per epoch included): {tune_wall / plain_wall:.2f}.",
        "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
