"""Curvature costs for the paper-size teacher (issue 5's measurements), written to bench/results/hessian.md.

1. seconds per Hessian-vector product;
2. HVPs and seconds until λ1 is within 1e-3 (relative) of a converged reference: Lanczos (Ritz values of
   every prefix of one run) against PyHessian's power iteration (the same iterates, tracked here), plus
   what PyHessian itself returns at its default tolerance;
3. probes and seconds until Tr(H) has a 2 % standard error: Hutchinson, and Hutch++ at a few budgets;
4. the analysis stage on the quick study's four models: one process against two Ray workers.

The teacher is trained for two epochs on the quick preset's generated jets first (an untrained network's
curvature is unrepresentative). Usage: ``python bench/hessian.py`` after ``python studies/full.py``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import tempfile
import time
from pathlib import Path

import torch

from raysym.hessian import HessianOperator, hutch_plus_plus, hutchinson_samples, training_loss_closure
from raysym.hessian.lanczos import lanczos_run
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues
from raysym.ray_session import ensure_ray
from raysym.stages.analyses import run_analysis_stage
from raysym.stages.jets import run_jets_stage
from raysym.store import ResultStore
from raysym.study.presets import preset
from raysym.training import TrainConfig, train


def ritz_top(alphas, betas, m: int) -> float:
    """Largest Ritz value of the first m Lanczos steps (the m×m tridiagonal's top eigenvalue)."""
    t = torch.diag(torch.tensor(alphas[:m], dtype=torch.float64))
    if m > 1:
        off = torch.tensor(betas[:m - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return float(torch.linalg.eigvalsh(t)[-1])


def first(values, good) -> int | None:
    return next((i + 1 for i, v in enumerate(values) if good(v)), None)


def power_iterates(op: HessianOperator, steps: int, seed: int = 0) -> list[float]:
    """PyHessian's loop: v ← Hv/‖Hv‖, λ = vᵀHv; one HVP per step."""
    v = torch.randn(op.n_params, generator=torch.Generator().manual_seed(seed), dtype=op.dtype)
    v /= v.norm()
    values = []
    for _ in range(steps):
        hv = op.matvec(v)
        values.append(float(torch.dot(v, hv)))
        v = hv / hv.norm()
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=64, help="jets in the Hessian evaluation set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--study-out", default="raysym-runs/quick", help="quick study folder (jets, models)")
    parser.add_argument("--out", default="bench/results/hessian.md")
    args = parser.parse_args()
    quick = preset("quick")
    ensure_ray()
    train_data, test_jets, _ = run_jets_stage(quick.data, Path(args.study_out), quick.recipe.task,
                                              quick.evaluation.tasks, progress=False)
    torch.set_num_threads(args.threads)
    lines = ["# Curvature costs, paper-size teacher (1,255,425 parameters)", "",
             f"Measured {datetime.date.today()} on this 2-core CPU, torch {torch.__version__}, {args.threads} threads; "
             f"Hessian of the BCE training loss on {args.jets} fixed training jets (one batch), float32. "
             "The teacher was trained 2 epochs on the quick preset's generated g-vs-W jets. "
             "`python bench/hessian.py`.", ""]

    model = train(TrainConfig(model="teacher", model_preset="paper", epochs=2, batch_size=256), train_data).model
    t = train_data["train"]
    closure = training_loss_closure(model, torch.as_tensor(t.p4.copy()), torch.as_tensor(t.mask.copy()),
                                    torch.as_tensor(t.y.copy()), batch_size=args.jets, n_jets=args.jets, seed=0)
    op = HessianOperator(closure)
    v = torch.randn(op.n_params)
    op.matvec(v)
    start = time.perf_counter()
    for _ in range(5):
        op.matvec(v)
    per_hvp = (time.perf_counter() - start) / 5
    lines += [f"**Seconds per HVP: {per_hvp:.3f}** (mean of 5).", ""]

    start = time.perf_counter()
    alphas, betas, _, converged, _ = lanczos_run(op, torch.randn(op.n_params, generator=torch.Generator().manual_seed(0)),
                                                  max_iter=80, k=1, tol=1e-7)
    lanczos_seconds = time.perf_counter() - start
    steps = len(alphas)
    reference = ritz_top(alphas, betas, steps)
    lanczos_curve = [ritz_top(alphas, betas, m) for m in range(1, steps + 1)]
    close = lambda x: abs(x - reference) / abs(reference) < 1e-3  # noqa: E731
    m_lanczos = first(lanczos_curve, close)
    power = power_iterates(op, 150)
    m_power = first(power, close)
    start = time.perf_counter()
    py = pyhessian_top_eigenvalues(model, closure.batches, top_n=1, max_iter=200, tol=1e-3)
    py_seconds = time.perf_counter() - start
    lines += [
        f"## λ1 within 1e-3 of the reference λ1 = {reference:.6g}", "",
        f"Reference: Lanczos run to a relative residual of 1e-7 ({steps} steps, converged: {converged}, "
        f"{lanczos_seconds:.1f} s).", "",
        "| method | HVPs to 1e-3 | seconds (HVPs × s/HVP) |", "|---|---|---|",
        f"| Lanczos, full reorthogonalisation | {m_lanczos} | {m_lanczos * per_hvp:.1f} |",
        f"| power iteration (PyHessian's loop) | {m_power or '> 150'} | "
        f"{(m_power or 150) * per_hvp:.1f}{'' if m_power else ' (not reached)'} |",
        "", f"PyHessian 0.1 itself at its default tolerance (1e-3 on the relative change): λ1 = {py.eigenvalues[0]:.6g} "
        f"(relative error {abs(py.eigenvalues[0] - reference) / abs(reference):.1e}) after {py.n_hvp} HVPs, "
        f"{py_seconds:.1f} s.", ""]

    start = time.perf_counter()
    samples = hutchinson_samples(op, range(120), seed=0).values
    hutch_seconds = time.perf_counter() - start
    running = [(sum(samples[:m]) / m, torch.tensor(samples[:m], dtype=torch.float64).std().item() / math.sqrt(m))
               for m in range(2, len(samples) + 1)]
    m_hutch = next((m + 2 for m, (tr, se) in enumerate(running) if se < 0.02 * abs(tr)), None)
    tr, se = running[-1]
    lines += ["## Tr(H) with a 2 % standard error", "",
              "| method | HVPs | trace | standard error | seconds |", "|---|---|---|---|---|"]
    lines.append(f"| Hutchinson, Rademacher | {len(samples)} | {tr:.4g} | {se:.3g} ({100 * se / abs(tr):.1f} %) | "
                 f"{hutch_seconds:.1f} |")
    for budget in (30, 60, 120):
        estimate = hutch_plus_plus(op, n_hvp=budget, seed=0)
        lines.append(f"| Hutch++ | {budget} | {estimate.trace:.4g} | {estimate.standard_error:.3g} "
                     f"({100 * estimate.standard_error / abs(estimate.trace):.1f} %) | {estimate.seconds:.1f} |")
    lines += ["", f"Hutchinson reached a 2 % standard error after **{m_hutch or 'more than 120'}** probes"
              + (f" ({m_hutch * per_hvp:.1f} s)." if m_hutch else "."),
              "Hutch++'s standard error covers its random part only (the low-rank part is deterministic).", ""]

    settings = quick.analyses
    trials = ResultStore(Path(args.study_out) / "store").load("trials")
    trials = trials[trials["study"] == quick.name]
    walls = {}
    for label, use_ray in (("one process", False), ("two Ray workers", True)):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            run_analysis_stage(ResultStore(out), trials, train_data["train"], test_jets, settings, progress=False,
                               use_ray=use_ray)
            walls[label] = time.perf_counter() - start
    lines += ["## Analysis stage fan-out (quick study: 4 small teachers, quick analysis settings)", "",
              f"Per model: Lanczos {settings.lanczos_steps} steps, {settings.trace_probes} Hutchinson probes in "
              f"groups of {settings.probes_per_task}, smearing at {len(settings.smearing_sigmas)} σ, a "
              f"{settings.goldstone_points}-point Goldstone scan and its control; {settings.hessian_jets} jets.", "",
              "| run | wall time (s) |", "|---|---|",
              *[f"| {k} | {v:.1f} |" for k, v in walls.items()], "",
              f"Speed-up on 2 workers: **{walls['one process'] / walls['two Ray workers']:.2f}×** "
              "(Ray already started; the numbers are identical, see tests/test_stages_analyses.py).", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
