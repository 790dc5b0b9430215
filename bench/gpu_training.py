"""Training jets/s of the paper-size teacher on one GPU: float32 against bf16, 1, 2 and 4 trials at once.

Issue 13 §4 asks two questions before the paper preset commits to them: does bfloat16 autocast speed up
a training step of a 1.25M-parameter teacher, and how many trials should share one GPU (the preset packs
four per A10G, raysym/study/presets.py)? Each trial here is what a Tune trial is: its own process
(Ray's fractional GPUs share a GPU the same way, between processes, each with its own CUDA context and its
own jets on the GPU), one torch thread (the preset's one CPU per trial), running the real
:func:`raysym.training.train` with the preset's recipe. All of a measurement's trials start together
(a barrier after their start-up); the first epoch is a warm-up, and the jets/s ``train`` reports for the
epochs after it (training steps only, not validation; its per-step ``.item()`` synchronises with the GPU)
are averaged per trial. The aggregate is the sum over the trials that ran at once.

The jets are synthetic, with the study's shape (32 constituent slots, 20 to 32 of them real, jets of
about 1 TeV; W jets with two hard prongs): a step's cost depends on the shapes, not on the physics,
and nothing needs the internet or the generator.

    python bench/gpu_training.py                               # on a CUDA machine: writes bench/results/gpu_training.md
    python bench/gpu_training.py --device cpu --model-preset small --jets 256 --trials 1 2 --penalty none
                                                               # a smoke run of the same path on the CPU (prints only)

Without a CUDA GPU (and without ``--device cpu``) it says so, writes nothing and exits 0.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import platform
import queue
import statistics
import sys
from dataclasses import dataclass

import numpy as np
import torch

from raysym.data.jetset import CLASS_NAMES, JetSet
from raysym.errors import ConfigError
from raysym.training import TrainConfig, train
from raysym.training.config import PRECISIONS

DEFAULT_OUT = "bench/results/gpu_training.md"


@dataclass(frozen=True)
class Setting:
    """What every trial of one measurement runs (everything but its seed)."""

    device: str
    precision: str
    penalty: str
    model_preset: str
    jets: int
    val_jets: int
    batch_size: int
    timed_epochs: int
    threads: int

    def config(self, seed: int) -> TrainConfig:
        """The paper preset's recipe with this setting's sizes (SEAL at Glowacki's λ = 0.1)."""
        lam = 0.0 if self.penalty == "none" else 0.1
        return TrainConfig(model_preset=self.model_preset, penalty=self.penalty, lam=lam, seed=seed,
                           epochs=1 + self.timed_epochs, batch_size=self.batch_size, device=self.device,
                           precision=self.precision)


def synthetic_jets(n: int, seed: int):
    """``n`` g-vs-W jets of the study's shape: ~1 TeV, 20–32 real constituents of 32, half of them W jets
    (two hard prongs). Only the shapes matter for throughput; the prongs give validation two classes."""
    rng = np.random.default_rng(seed)
    is_w = np.arange(n) % 2 == 1
    fractions = rng.exponential(1.0, (n, 32)) ** 2
    fractions[is_w, :2] += 15.0
    real = np.arange(32) < rng.integers(20, 33, (n, 1))
    fractions *= real
    pt = 1000.0 * fractions / fractions.sum(1, keepdims=True)
    eta, phi = 0.1 * rng.normal(size=(2, n, 32)) + rng.normal(size=(2, n, 1))
    p4 = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1) * real[..., None]
    label = np.where(is_w, CLASS_NAMES.index("w"), CLASS_NAMES.index("g"))
    return JetSet(p4, real, label, pt.sum(1), np.zeros(n), np.zeros(n), source="synthetic").for_task("g_vs_w")


def _trial(setting: Setting, rank: int, barrier, results) -> None:
    """One trial in its own process: build its jets and model, wait for the others, train, send the rates."""
    torch.set_num_threads(setting.threads)
    data = {"train": synthetic_jets(setting.jets, seed=2 * rank), "val": synthetic_jets(setting.val_jets, 2 * rank + 1)}
    config = setting.config(seed=rank)
    if setting.device == "cuda":
        torch.cuda.init()
    barrier.wait()
    history = train(config, data).history
    rates = [epoch["jets_per_second"] for epoch in history[1:]]  # after the warm-up epoch
    peak = torch.cuda.max_memory_allocated() / 2**20 if setting.device == "cuda" else float("nan")
    results.put((rank, statistics.mean(rates), peak))


def measure(setting: Setting, trials: int) -> dict:
    """Per-trial and aggregate jets/s of ``trials`` concurrent trials of ``setting``."""
    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    barrier, results = context.Barrier(trials), context.Queue()
    processes = [context.Process(target=_trial, args=(setting, rank, barrier, results)) for rank in range(trials)]
    for process in processes:
        process.start()
    got = []
    while len(got) < trials:
        try:
            got.append(results.get(timeout=5))
        except queue.Empty:
            failed = [p.exitcode for p in processes if p.exitcode]
            if failed:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"a trial process of {setting} exited with {failed[0]}") from None
    for process in processes:
        process.join()
    rates = [rate for _, rate, _ in got]
    return {"precision": setting.precision, "penalty": setting.penalty, "trials": trials,
            "per_trial_jets_per_s": statistics.mean(rates), "aggregate_jets_per_s": sum(rates),
            "peak_gpu_mib": max(peak for _, _, peak in got)}


def _table(rows: list[dict], device_name: str, args, command: str) -> str:
    """The results as markdown: the setting, then one row per penalty × precision × trial count."""
    baseline = {row["penalty"]: row["aggregate_jets_per_s"] for row in rows
                if row["trials"] == 1 and row["precision"] == "float32"}
    header = ("| penalty | precision | trials at once | jets/s per trial | jets/s together | vs 1 float32 trial "
              "| peak GPU MiB per trial |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for row in rows:
        ratio = row["aggregate_jets_per_s"] / baseline[row["penalty"]] if row["penalty"] in baseline else float("nan")
        lines.append(f"| {row['penalty']} | {row['precision']} | {row['trials']} | {row['per_trial_jets_per_s']:.0f} "
                     f"| {row['aggregate_jets_per_s']:.0f} | {ratio:.2f} | {row['peak_gpu_mib']:.0f} |")
    title = ("# Training on one GPU: float32 against bf16, and trials sharing the GPU" if args.device == "cuda" else
             "# CPU smoke run of bench/gpu_training.py (NOT a GPU measurement)")
    setup = (f"Measured {datetime.date.today()} on {device_name}, torch {torch.__version__}, `{args.model_preset}` "
             f"teacher, batch {args.batch_size}, {args.jets:,} training jets per trial, {args.threads} torch "
             f"thread(s) per trial, {args.timed_epochs} timed epoch(s) after a warm-up epoch; the trials of a row are "
             f"separate processes started together. `{command}`.")
    return "\n".join([title, "", setup, "", *lines, ""])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (default), or cpu for a smoke run of the same path")
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 2, 4], help="trials at once on the GPU")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--penalty", nargs="+", choices=("none", "seal"), default=["none", "seal"])
    parser.add_argument("--model-preset", default="paper")
    parser.add_argument("--jets", type=int, default=20_000, help="training jets per trial")
    parser.add_argument("--val-jets", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--timed-epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trial (the preset's CPUs per trial)")
    parser.add_argument("--out", help=f"markdown table to write (default {DEFAULT_OUT} on a GPU; a CPU run only "
                                      "prints unless given one)")
    return parser.parse_args(argv)


def headline(rows: list[dict], device_name: str) -> dict:
    """The numbers a summary needs: one unconstrained trial's jets/s per precision, what n trials make
    together, and every row."""
    alone = {row["precision"]: row["per_trial_jets_per_s"] for row in rows
             if row["penalty"] == "none" and row["trials"] == 1}
    together = {f"{row['penalty']} {row['precision']} x{row['trials']}": row["aggregate_jets_per_s"] for row in rows}
    return {"device": device_name, **{f"jets_per_s_{precision}": rate for precision, rate in alone.items()},
            "together_jets_per_s": together, "rows": rows}


def main(argv=None) -> dict:
    """Measure and write the table; return :func:`headline` (an empty dict where there is no GPU to measure)."""
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu_training.py: no CUDA GPU on this machine: nothing measured, nothing written. Run it on a machine with a CUDA "
              "GPU, or add --device cpu for a smoke run of the same code on the CPU.")
        return {}
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.machine()} CPU"
    rows = []
    for penalty in args.penalty:
        for precision in args.precision:
            setting = Setting(args.device, precision, penalty, args.model_preset, args.jets, args.val_jets,
                              args.batch_size, args.timed_epochs, args.threads)
            try:
                setting.config(seed=0).check_device()
            except ConfigError as err:
                print(f"skipped {precision}: {err}")
                continue
            for trials in args.trials:
                rows.append(measure(setting, trials))
                row = rows[-1]
                print(f"{penalty} {precision} x{trials}: {row['per_trial_jets_per_s']:.0f} jets/s per trial, "
                      f"{row['aggregate_jets_per_s']:.0f} together", flush=True)
    command = " ".join(["python bench/gpu_training.py", *(sys.argv[1:] if argv is None else argv)])
    text = _table(rows, device_name, args, command)
    out = args.out or (DEFAULT_OUT if args.device == "cuda" else None)
    if out:
        with open(out, "w") as f:
            f.write(text)
    print(text)
    return headline(rows, device_name)


if __name__ == "__main__":
    main()
