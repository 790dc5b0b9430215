"""Training throughput of the paper-size teacher with each penalty (issue 3's measurement).

Times full optimiser steps (forward, BCE + λ·penalty, backward, Adam) on jets with the shape of the
study's (32 constituents, ~1 TeV), for torch thread counts given on the command line, and writes a
markdown table. Usage: ``python bench/training_throughput.py --threads 1 2 --out bench/results/training.md``.
"""

from __future__ import annotations

import argparse
import datetime
import platform
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


def steps_per_second(penalty_name: str, batch_size: int, steps: int, device: str = "cpu", **options) -> float:
    torch.manual_seed(0)
    model = build_model("teacher", "paper").to(device)
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
    parser.add_argument("--out", default="bench/results/training.md")
    args = parser.parse_args(argv)
    rows, measured = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates = {label: steps_per_second(name, args.batch_size, args.steps, **options)
                 for label, name, options in VARIANTS}
        measured[threads] = rates
        for name, rate in rates.items():
            rows.append(f"| {threads} | {name} | {rate:.1f} | {rates['none'] / rate:.2f} |")
            print(rows[-1], flush=True)
    text = "\n".join([
        "# Training throughput, paper-size teacher (1,255,425 parameters)",
        "",
        f"Measured {datetime.date.today()} on {platform.machine()} CPU, {torch.__version__}, "
        f"batch {args.batch_size}, {args.steps} timed Adam steps after one warm-up, λ = 0.1 for seal/dseal "
        "(all six generators; jvp = forward-mode, grad = one reverse-mode input gradient). "
        "`python bench/training_throughput.py`.",
        "",
        "| torch threads | penalty | jets/s | cost / none |",
        "|---|---|---|---|",
        *rows,
        "",
    ])
    with open(args.out, "w") as f:
        f.write(text)
    return {"jets_per_s": measured}


if __name__ == "__main__":
    main()
