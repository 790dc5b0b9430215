"""What Ray Tune costs a training trial, split into a fixed part and a per-epoch part.

A trial is the same ``raysym.training.train`` inside Tune (one-trial study, 1 CPU) as outside (a plain
call, torch on 1 thread), on the quick preset's generated jets, for the small teacher and the paper-size
teacher. Per epoch, ``train`` measures its own work (``epoch_seconds``: the training pass and
validation); the time between two reports beyond that is the per-epoch overhead — outside Ray, building
the checkpoint dict; inside Tune, that plus serialising it, ``tune.report`` and Tune's copy to storage.
The fixed part is the rest of the wall time: outside Ray, building the model and moving the jets;
inside, also the Tuner, the trial's actor (a process with its imports), the jets through the object
store and collecting the result. Repeats are interleaved (plain, Tune, plain, Tune, ...) and medians
reported. The per-epoch overhead is set against a paper epoch (203,238 training jets) at the measured
throughput. Writes ``bench/results/ray_overhead.md``; ``main()`` returns the headline numbers.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
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

#: Training jets of the paper's g-vs-W task (docs/methods.md §5): what a paper epoch trains on.
PAPER_TRAIN_JETS = 203_238


def subset(task_jets, n: int):
    """``n`` jets of a task view, a seeded random choice (the jets are stored class by class)."""
    return task_jets.subset(np.sort(np.random.default_rng(0).permutation(len(task_jets))[:n]))


def plain_run(config, data) -> dict:
    """``train`` outside Ray: wall time, epoch work and report-to-report intervals."""
    stamps = []
    start = time.perf_counter()
    result = train(config, data, report=lambda metrics, checkpoint: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - start
    intervals = np.diff([start, *stamps])
    return summary(wall, intervals, result.history)


def tune_run(config, trials, data, name: str) -> dict:
    """The same run as a one-trial Tune study; Tune's ``time_this_iter_s`` is the report-to-report time."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = training_tuner(name, trials, config.training, data, out, verbose=0).fit()
        wall = time.perf_counter() - start
    frame = results[0].metrics_dataframe
    return summary(wall, frame["time_this_iter_s"].to_numpy(), frame.to_dict("records"))


def summary(wall: float, intervals, history) -> dict:
    work = np.array([h["epoch_seconds"] for h in history])
    rate = float(np.mean([h["jets_per_second"] for h in history[1:]]))
    # The first interval also holds the set-up before the first epoch; epochs 2+ give the steady per-epoch
    # overhead, and the fixed part is what is left of the wall time beyond the epochs' work and overheads.
    per_epoch = float(np.median((intervals - work)[1:]))
    return {"wall": wall, "fixed": wall - float(work.sum()) - len(work) * per_epoch, "per_epoch": per_epoch,
            "epoch": float(np.median(work[1:])), "rate": rate}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-epochs", type=int, default=10)
    parser.add_argument("--paper-epochs", type=int, default=3)
    parser.add_argument("--paper-jets", type=int, default=800, help="training jets for the paper-size teacher")
    parser.add_argument("--data-out", default="raysym-runs/quick", help="study dir whose generated jets to reuse")
    parser.add_argument("--out", default="bench/results/ray_overhead.md")
    args = parser.parse_args(argv)
    quick = preset("quick")
    ensure_ray()
    torch.set_num_threads(1)
    train_data, _, data_key = run_jets_stage(quick.data, Path(args.data_out), quick.recipe.task,
                                             quick.evaluation.tasks, progress=False)
    cases = {
        "small teacher": (quick.with_overrides(name="overhead-small", biases=(Bias(),), seeds=(0,),
                                               recipe={"epochs": args.small_epochs}), train_data),
        "paper-size teacher": (quick.with_overrides(name="overhead-paper", biases=(Bias(),), seeds=(0,),
                                                    recipe={"epochs": args.paper_epochs, "model_preset": "paper",
                                                            "batch_size": 256}),
                               {"train": subset(train_data["train"], args.paper_jets),
                                "val": subset(train_data["val"], args.paper_jets // 4)}),
    }
    runs = {(case, kind): [] for case in cases for kind in ("plain", "tune")}
    for repeat in range(args.repeats):
        for case, (config, data) in cases.items():
            trials = config.trials(data_key)
            runs[case, "plain"].append(plain_run(next(iter(trials.values())), data))
            runs[case, "tune"].append(tune_run(config, trials, data, f"{config.name}-{repeat}"))

    def med(case, kind, key):
        return statistics.median(r[key] for r in runs[case, kind])

    headline, rows = {}, []
    for case, (config, data) in cases.items():
        fixed = med(case, "tune", "fixed") - med(case, "plain", "fixed")
        per_epoch = med(case, "tune", "per_epoch") - med(case, "plain", "per_epoch")
        ratio = statistics.median(t["rate"] / p["rate"] for t, p in zip(runs[case, "tune"], runs[case, "plain"]))
        paper_epoch = PAPER_TRAIN_JETS / med(case, "plain", "rate")
        headline[case] = {"fixed_s": fixed, "per_epoch_s": per_epoch, "throughput_ratio": ratio,
                          "paper_epoch_s": paper_epoch, "per_epoch_fraction": per_epoch / paper_epoch}
        rows.append(f"| {case} | {len(data['train'])} | {config.recipe.epochs} | "
                    f"{med(case, 'plain', 'wall'):.2f} / {med(case, 'tune', 'wall'):.2f} | "
                    f"{med(case, 'plain', 'fixed'):.2f} / {med(case, 'tune', 'fixed'):.2f} | **{fixed:.2f}** | "
                    f"{1e3 * med(case, 'plain', 'per_epoch'):.1f} / {1e3 * med(case, 'tune', 'per_epoch'):.1f} | "
                    f"**{1e3 * per_epoch:.1f}** | {med(case, 'plain', 'rate'):.0f} / {med(case, 'tune', 'rate'):.0f} | "
                    f"**{ratio:.3f}** | {paper_epoch:.0f} s: **{100 * per_epoch / paper_epoch:.3f} %** |")
    raw = [f"- {case}, {kind}: " + "; ".join(f"wall {r['wall']:.2f} s, fixed {r['fixed']:.2f} s, per-epoch "
                                              f"{1e3 * r['per_epoch']:.1f} ms, {r['rate']:.0f} jets/s" for r in rs)
           for (case, kind), rs in runs.items()]
    text = "\n".join([
        "# What Ray Tune costs a training trial: fixed and per-epoch parts", "",
        f"Measured {datetime.date.today()} on this 2-core machine, `python bench/ray_overhead.py` (after "
        "`python studies/full.py` made the quick preset's jets). Unconstrained teacher, batch 128 (small) or 256 "
        "(paper-size), torch on 1 thread in and out of Ray, 1 CPU per trial, Ray started before the clock, "
        f"{args.repeats} interleaved repeats, medians. Pairs are plain `train()` / one-trial Tune study.", "",
        "| teacher | jets | epochs | wall (s) | fixed (s) | Ray's fixed cost (s) | per-epoch overhead (ms) "
        "| Ray's per-epoch cost (ms) | jets/s (epochs 2+) | throughput ratio | per-epoch cost against a paper "
        "epoch at this speed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows, "",
        "Per-epoch overhead: a report-to-report interval minus the epoch's own work (`epoch_seconds`), median "
        "over epochs 2+. Fixed: the wall time less every epoch's work and per-epoch overhead. Ray's costs are the Tune value minus the "
        "plain one.", "", "Every run:", "", *raw, "",
    ])
    Path(args.out).write_text(text)
    print(text)
    return headline


if __name__ == "__main__":
    main()
