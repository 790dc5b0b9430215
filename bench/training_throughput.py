"""Training throughput of the paper-size teacher with each penalty (issue 3's measurement).

Times full optimiser steps (forward, BCE + λ·penalty, backward, Adam) on jets with the shape of the
study's (32 constituents, ~1 TeV), for torch thread counts given on the command line, and writes a
markdown table. Usage: ``python bench/training_throughput.py --threads 1 2 --out bench/results/training.md``.

``--dropout 0 0.1`` measures the teacher at each dropout, interleaved over ``--repeats`` rounds (so a
machine that slows down mid-run slows every setting alike), and reports the median of the rounds and the
ratio of each dropout to the first; ``--jet-axis pseudorapidity`` measures the reference code's axis.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from raysym.batch import JetBatch
from raysym.models.registry import build_model
from raysym.penalties import make_penalty


def jets(n: int, seed: int = 0) -> JetBatch:
    g = torch.Generator().manual_seed(seed)
    pt = torch.distributions.Exponential(1 / 30.0).sample((n, 32)) + 1
    eta = 0.2 * torch.randn(n, 32, generator=g)
    phi = 0.2 * torch.randn(n, 32, generator=g)
    p4 = torch.stack([pt * torch.cosh(eta), pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], -1)
    mask = torch.arange(32) < torch.randint(20, 33, (n, 1), generator=g)
    return JetBatch(p4 * mask.unsqueeze(-1), mask, (torch.arange(n) % 2).float())


#: (label, penalty name, penalty options) of every measured variant.
VARIANTS = (
    ("none", "none", {}),
    ("seal", "seal", {}),
    ("dseal (jvp)", "dseal", {"method": "jvp"}),
    ("dseal (grad)", "dseal", {"method": "grad"}),
)


def steps_per_second(penalty_name: str, batch_size: int, steps: int, device: str = "cpu",
                     network: dict | None = None, preset: str = "paper", **options) -> float:
    torch.manual_seed(0)
    model = build_model("teacher", preset, **(network or {})).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005, weight_decay=0.0005)
    penalty = make_penalty(penalty_name, seed=0, **options)
    batch = jets(batch_size).to(device)
    lam = 0.0 if penalty_name == "none" else 0.1

    def step():
        logits = model(batch.p4, batch.mask)
        loss = F.binary_cross_entropy_with_logits(logits, batch.y)
        if lam:
            loss = loss + lam * penalty(model, batch, logits)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    if device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device != "cpu":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dropout", type=float, nargs="+", default=[0.0],
                        help="the teacher's encoder dropout; several values are measured interleaved")
    parser.add_argument("--jet-axis", default="rapidity")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the median is reported")
    parser.add_argument("--penalties", nargs="+", default=[label for label, _, _ in VARIANTS],
                        help="which variants to time (labels as in the table)")
    parser.add_argument("--preset", choices=("paper", "small"), default="paper", help="the teacher's sizes")
    parser.add_argument("--out", default="bench/results/training.md")
    args = parser.parse_args(argv)
    parameters = sum(p.numel() for p in build_model("teacher", args.preset).parameters())
    variants = [v for v in VARIANTS if v[0] in args.penalties]
    rows, measured = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rounds = {(dropout, label): [] for dropout in args.dropout for label, _, _ in variants}
        for _ in range(args.repeats):
            for label, name, options in variants:
                for dropout in args.dropout:
                    network = {"dropout": dropout, "jet_axis": args.jet_axis}
                    rounds[dropout, label].append(steps_per_second(name, args.batch_size, args.steps,
                                                                   network=network, preset=args.preset, **options))
        rates = {key: statistics.median(values) for key, values in rounds.items()}
        measured[threads] = {f"{label} (dropout {dropout:g})": rate for (dropout, label), rate in rates.items()}
        for (dropout, label), rate in rates.items():
            none = rates.get((dropout, "none"))
            first = rates[args.dropout[0], label]
            spread = ", ".join(f"{v:.1f}" for v in rounds[dropout, label])
            rows.append(f"| {threads} | {dropout:g} | {label} | {rate:.1f} | {spread} | "
                        f"{(none / rate) if none else float('nan'):.2f} | {rate / first:.3f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        f"# Training throughput, {args.preset}-size teacher ({parameters:,} parameters)",
        "",
        f"Measured {datetime.date.today()} on {platform.machine()} CPU, {torch.__version__}, "
        f"batch {args.batch_size}, {args.steps} timed Adam steps after one warm-up, λ = 0.1 for seal/dseal "
        "(all six generators; jvp = forward-mode, grad = one reverse-mode input gradient), jet axis "
        f"{args.jet_axis}; {args.repeats} interleaved round(s), median reported. "
        f"`python bench/training_throughput.py {shlex.join(argv if argv is not None else sys.argv[1:])}`.",
        "",
        f"| torch threads | dropout | penalty | jets/s (median) | each round | cost / none | rate / dropout {args.dropout[0]:g} |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    with open(args.out, "w") as f:
        f.write(text)
    return {"jets_per_s": measured}


if __name__ == "__main__":
    main()
