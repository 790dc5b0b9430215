"""HVPs to a stated precision for Tr(H) and λ1 (issue 13 §3), written to bench/results/trace_precision.md.

For two trained teachers — (a) the quick study's ``small`` teacher on 512 Hessian jets, (b) the
paper-size teacher on 64 — it measures:

1. **Tr(H)**: HVPs until the relative standard error reaches 5 % and 2 % (``trace_to_precision``, a cap
   per model) for Hutchinson, Hutchinson deflated by the Lanczos Ritz vectors, Hutch++ and XTrace, each
   estimate's actual error against an independent reference (deflated Hutchinson on another seed with
   many probes), and the deflated probes' spread against the number of Ritz vectors deflated;
2. **λ1**: HVPs until λ1 is within 1e-3 (relative) of a converged reference, for our Lanczos (the Ritz
   value of every prefix of one run), ARPACK (``eigsh``) at several tolerances and basis sizes, power
   iteration (PyHessian's loop) and PyHessian itself, block Lanczos with blocks of 2, and warm starts of
   our Lanczos from ν1 of the model one epoch earlier and from the first restart's ν1.

Both teachers are trained two epochs on the quick preset's generated g-vs-W jets (read from
``--study-out`` or generated there). HVPs that repeat bitwise (the same seeded probe or sketch vector)
are computed once and replayed, but always counted: the counts are what each method costs on its own.
Usage: ``python bench/trace_precision.py`` (12 min on 2 idle cores; ``--quick``: the small teacher only).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

from raysym.hessian import HessianOperator, lanczos_top_eigenpairs, training_loss_closure
from raysym.hessian.arpack import arpack_top_eigenpairs
from raysym.hessian.deflation import deflation_from_lanczos
from raysym.hessian.hvp import random_normal, rademacher
from raysym.hessian.precision import trace_to_precision
from raysym.hessian.pyhessian_backend import pyhessian_top_eigenvalues
from raysym.hessian.trace import hutchinson_trace
from raysym.study.presets import preset
from raysym.training import train

TARGETS = (0.05, 0.02)
TRACE_METHODS = ("hutchinson", "deflated-hutchinson", "hutch++", "xtrace")


class ReplayOperator(HessianOperator):
    """An operator that computes each distinct vector's HVP once and replays it, counting every call.

    Seeded probes repeat bitwise between a 5 % and a 2 % run (and sketch vectors between Hutch++ or
    XTrace budgets), so replaying them changes no number and saves wall time; ``n_hvp`` still counts
    each call, as the method would pay it alone. ``computed`` counts the real products.
    """

    def __init__(self, closure):
        super().__init__(closure)
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.computed = 0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        v = v.to(dtype=self.dtype, device=self.device)
        key = hash(v.cpu().numpy().tobytes())
        hit = self.cache.get(key)
        if hit is not None and torch.equal(hit[0], v):
            self.n_hvp += 1
            return hit[1].clone()
        result = super().matvec(v)
        self.computed += 1
        self.cache[key] = (v.clone(), result.clone())
        return result


def tridiagonal_from_quadrature(nodes: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The Lanczos tridiagonal T_m recovered from its Gauss quadrature (eigenvalues, squared first components).

    T_m is the Lanczos matrix of diag(nodes) from the start vector √weights (the run's start expressed in
    T's eigenbasis), so m small Lanczos steps in float64 give it back, and with it every prefix T_j.
    """
    d = nodes.double()
    q = weights.double().clamp_min(0).sqrt()
    q = q / q.norm()
    basis, alphas, betas = [q], [], []
    for j in range(len(d)):
        w = d * basis[-1]
        alphas.append(float(basis[-1] @ w))
        for _ in range(2):
            for b in basis:
                w = w - (b @ w) * b
        beta = float(w.norm())
        if j + 1 == len(d) or beta < 1e-14 * float(d.abs().max()):
            break
        betas.append(beta)
        basis.append(w / beta)
    t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas[:len(alphas) - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    return t


def prefix_top(result) -> list[float]:
    """λ1 estimate (largest Ritz value) after each step of a Lanczos run, from its quadrature."""
    t = tridiagonal_from_quadrature(*result.quadrature)
    return [float(torch.linalg.eigvalsh(t[:m, :m])[-1]) for m in range(1, t.shape[0] + 1)]


def first_within(values, reference: float, rel: float = 1e-3):
    return next((i + 1 for i, v in enumerate(values) if abs(v - reference) <= rel * abs(reference)), None)


def power_iterates(op: HessianOperator, steps: int, seed: int = 0) -> list[float]:
    """PyHessian's loop v ← Hv/‖Hv‖ with λ = vᵀHv, from the seeded Lanczos start; one HVP per step."""
    v = random_normal(op, seed, 0x1A2C)
    v = v / v.norm()
    values = []
    for _ in range(steps):
        hv = op.matvec(v)
        values.append(float(torch.dot(v.double(), hv.double())))
        v = hv / hv.norm()
    return values


def block_lanczos_top(op: HessianOperator, block: int, steps: int, seed: int = 0) -> list[tuple[int, float]]:
    """(HVPs so far, λ1 estimate) after each block step of a block Krylov method (Rayleigh–Ritz, full basis).

    The basis grows by H applied to the newest block, orthogonalised twice against everything before;
    the Ritz value is the top eigenvalue of QᵀHQ, formed from the stored products HQ.
    """
    vs = [random_normal(op, seed, 0x1A2C)] + [random_normal(op, seed, 0xB10C, j) for j in range(1, block)]
    new = torch.linalg.qr(torch.stack(vs, dim=1))[0]
    q_cols, hq_cols, out = [], [], []
    for _ in range(steps):
        h_new = op.matmat(new)
        q_cols.append(new)
        hq_cols.append(h_new)
        q, hq = torch.cat(q_cols, dim=1), torch.cat(hq_cols, dim=1)
        m = (q.double().T @ hq.double())
        out.append((op.n_hvp, float(torch.linalg.eigvalsh((m + m.T) / 2)[-1])))
        w = h_new
        for _ in range(2):
            w = w - q @ (q.T @ w)
        new = torch.linalg.qr(w)[0]
    return out


def deflation_sweep(op: HessianOperator, eigen, ranks, probes: int, seed: int) -> dict[int, float]:
    """Spread (sample std) of the deflated Hutchinson sample gᵀHg for each deflation rank, from one HVP per probe.

    With Y the Ritz vectors and YᵀHY = diag(θ): gᵀHg = vᵀHv − 2 cᵀ(YᵀHv) + Σ θ_i c_i², c = Yᵀv, so
    one product Hv serves every rank (bench/trace_precision.py measures, the library projects).
    """
    y = eigen.ritz_vectors.double()
    theta = eigen.ritz_values.double()
    samples = {k: [] for k in ranks}
    for i in range(probes):
        v = rademacher(op, seed, i)
        hv = op.matvec(v).double()
        v = v.double()
        c, yhv, vhv = y @ v, y @ hv, float(v @ hv)
        for k in ranks:
            samples[k].append(vhv - 2 * float(c[:k] @ yhv[:k]) + float((theta[:k] * c[:k] ** 2).sum()))
    return {k: float(torch.tensor(s).std()) for k, s in samples.items()}


def train_two_epochs(recipe, data, train_jets: int | None):
    """(model after epoch 1, model after epoch 2, seconds): the last weights of each epoch, not the best."""
    states = {}
    if train_jets:  # a seeded random subset: the split is ordered by class
        chosen = torch.randperm(len(data["train"].y), generator=torch.Generator().manual_seed(0))[:train_jets]
        data = {"train": data["train"].subset(chosen.sort().values.numpy()), "val": data["val"]}
    start = time.perf_counter()
    result = train(recipe, data, report=lambda metrics, checkpoint: states.update({metrics["epoch"]: checkpoint["model"]}))
    seconds = time.perf_counter() - start
    models = []
    for epoch in (1, 2):
        model = recipe.build_model()
        model.load_state_dict(states[epoch])
        model.eval()
        models.append(model)
    del result
    return models[0], models[1], seconds


def closure_for(model, jets, n_jets: int, batch_size: int):
    return training_loss_closure(model, torch.as_tensor(jets.p4.copy()), torch.as_tensor(jets.mask.copy()),
                                 torch.as_tensor(jets.y.copy()), batch_size=batch_size, n_jets=n_jets, seed=0)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(x, spec=".4g"):
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def measure(label: str, model, model_prev, jets, n_jets: int, batch_size: int, cap: int, deflation_steps: int,
            reference_probes: int, sweep_probes: int, arpack_grid, power_steps: int, lines: list[str]) -> dict:
    """Every measurement on one model; appends its Markdown section to ``lines`` and returns its headlines."""
    op = ReplayOperator(closure_for(model, jets, n_jets, batch_size))
    n = op.n_params
    v = torch.randn(n, generator=torch.Generator().manual_seed(1))
    HessianOperator.matvec(op, v)
    start = time.perf_counter()
    for _ in range(3):
        HessianOperator.matvec(op, v)
    per_hvp = (time.perf_counter() - start) / 3
    op.n_hvp = 0
    progress(f"{label}: {per_hvp:.3f} s per HVP")
    lines += [f"## {label}: {n:,} parameters, {n_jets} Hessian jets, {per_hvp:.3f} s per HVP", ""]

    # The Lanczos run that builds the deflation also serves as the λ1 reference and its prefix curve.
    eigen = lanczos_top_eigenpairs(op, k=1, max_iter=deflation_steps, tol=0.0, keep_ritz=deflation_steps, seed=0)
    reference_l1 = eigen.top
    rel_residual = float(eigen.residuals[0]) / abs(reference_l1)
    lanczos_curve = prefix_top(eigen)
    stage_run = lanczos_top_eigenpairs(op, k=1, max_iter=deflation_steps, tol=1e-6, keep_ritz=deflation_steps, seed=0)

    progress(f"Lanczos reference done ({op.computed} HVPs computed so far)")
    # Deflation rank: spread of the deflated sample against k, from the same probes.
    ranks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k < eigen.iterations] + [eigen.iterations]
    spread = deflation_sweep(op, eigen, ranks, sweep_probes, seed=7)
    deflation = deflation_from_lanczos(eigen)
    reference = hutchinson_trace(op, n_probes=reference_probes, seed=1, deflation=deflation)
    ref_tr = reference.trace
    exact_parts = {k: float(eigen.ritz_values[:k].sum()) for k in ranks}
    lines += ["### Tr(H)", "",
              f"Reference Tr(H) = {ref_tr:.5g} ± {reference.standard_error:.2g} ({100 * reference.standard_error / abs(ref_tr):.2f} %): "
              f"Hutchinson deflated by all {eigen.iterations} Ritz vectors of a {eigen.iterations}-step Lanczos run, "
              f"{reference_probes} probes on seed 1 (the runs below use seed 0).", "",
              f"Deflation rank k (Ritz vectors of largest |θ| from that run, {sweep_probes} probes on seed 7): the spread "
              "of one sample gᵀHg, the exact part Σθ, and the probes a 5 % / 2 % standard error would then need "
              "((σ / (p·Tr))², rounded up).", "",
              "| k | memory (float32) | Σθ_k (exact part) | σ per probe | probes to 5 % | probes to 2 % |",
              "|---|---|---|---|---|---|"]
    for k in ranks:
        sigma = spread[k]
        lines.append(f"| {k}{' (whole Krylov basis)' if k == eigen.iterations else ''} | {k * n * 4 / 2**20:.0f} MiB | "
                     f"{exact_parts[k]:.4g} | {sigma:.3g} | {math.ceil((sigma / (0.05 * ref_tr)) ** 2)} | "
                     f"{math.ceil((sigma / (0.02 * ref_tr)) ** 2)} |")
    stage_k = stage_run.iterations
    lines += ["", f"(The λ1 run as the stage runs it today — tol 1e-6 — stops after {stage_k} steps; deflating "
              f"by its {stage_k} Ritz vectors is the row k = {stage_k} if listed, else between its neighbours.)", ""]

    trace_rows, headline = [], {}
    for method in TRACE_METHODS:
        headline[method] = {}
        for target in TARGETS:
            progress(f"{method} to {target:.0%} ({op.computed} HVPs computed so far)")
            estimate = trace_to_precision(op, method, target, group_size=8, max_probes=cap, seed=0,
                                          deflation=deflation if method == "deflated-hutchinson" else None)
            rel_se = abs(estimate.standard_error / estimate.trace)
            error = (estimate.trace - ref_tr) / ref_tr
            extra_hvp = eigen.n_hvp if method == "deflated-hutchinson" else 0
            reached = estimate.extra["stop"] == "precision"
            headline[method][f"{round(100 * target)}%"] = estimate.n_hvp + extra_hvp if reached else None
            trace_rows.append(
                f"| {method}{f' (k = {deflation.rank})' if extra_hvp else ''} | {round(100 * target)} % | "
                f"{estimate.n_hvp}{f' + {extra_hvp} Lanczos = {estimate.n_hvp + extra_hvp}' if extra_hvp else ''} | "
                f"{estimate.extra['stop']} | {estimate.trace:.5g} | {100 * rel_se:.2f} % | {100 * error:+.2f} % | "
                f"{abs(error) / rel_se if rel_se > 0 else math.inf:.1f} |")
            progress(trace_rows[-1])
    lines += [f"HVPs until the reported relative standard error is ≤ 5 % and ≤ 2 % (cap {cap} HVPs; "
              "Hutchinson adds groups of 8 probes, Hutch++ and XTrace rerun with budgets 8, 16, 32, … and every "
              "run is counted):", "",
              "| method | target | HVPs | stop | trace | reported rel. s.e. | error vs reference | |error| / s.e. |",
              "|---|---|---|---|---|---|---|---|", *trace_rows, ""]

    progress(f"λ1 comparisons ({op.computed} HVPs computed so far)")
    m_lanczos = first_within(lanczos_curve, reference_l1)
    rows = [f"| Lanczos (ours), cold start, Ritz value of every prefix | {fmt(m_lanczos, 'd')} | "
            f"{lanczos_curve[(m_lanczos or len(lanczos_curve)) - 1]:.6g} |",
            f"| Lanczos (ours), cold start, stopping on its residual (tol 1e-6) | {stage_run.n_hvp} (stops) | "
            f"{stage_run.top:.6g} |"]
    arpack_best = None
    for ncv in arpack_grid["ncv"]:
        for tol in arpack_grid["tol"]:
            before = op.n_hvp
            # ARPACK's restart limit defaults to 10·n: cap it near 60 HVPs (ncv − 1 per restart).
            result = arpack_top_eigenpairs(op, k=1, tol=tol, ncv=ncv, seed=0, max_iter=max(2, 60 // ((ncv or 20) - 1)))
            err = abs(result.top - reference_l1) / abs(reference_l1)
            if err <= 1e-3 and (arpack_best is None or result.n_hvp < arpack_best):
                arpack_best = result.n_hvp
            rows.append(f"| ARPACK eigsh, ncv = {ncv or 'default (20)'}, tol = {tol:g} | {op.n_hvp - before} "
                        f"({'stops' if result.converged else 'restart cap, not converged'}; error {err:.1e}"
                        f"{'' if err <= 1e-3 else ', > 1e-3'}) | {result.top:.6g} |")
            progress(rows[-1])
    power = power_iterates(op, power_steps)
    m_power = first_within(power, reference_l1)
    rows.append(f"| power iteration (PyHessian's loop) | {fmt(m_power, 'd') if m_power else f'> {power_steps}'} | "
                f"{power[(m_power or power_steps) - 1]:.6g} |")
    py = pyhessian_top_eigenvalues(model, op.closure.batches, top_n=1, max_iter=100, tol=1e-3, seed=0)
    py_err = abs(py.eigenvalues[0] - reference_l1) / abs(reference_l1)
    rows.append(f"| PyHessian 0.1 at its default tol 1e-3 | {py.n_hvp} (stops; error {py_err:.1e}) | "
                f"{py.eigenvalues[0]:.6g} |")
    block = block_lanczos_top(HessianOperator(op.closure), 2, max(4, (m_lanczos or 10) // 2 + 3))
    m_block = next((h for h, value in block if abs(value - reference_l1) <= 1e-3 * abs(reference_l1)), None)
    rows.append(f"| block Lanczos, blocks of 2 (Rayleigh–Ritz on the block Krylov space) | "
                f"{fmt(m_block, 'd') if m_block else f'> {block[-1][0]}'} | {block[-1][1]:.6g} |")
    prev = lanczos_top_eigenpairs(closure_for(model_prev, jets, n_jets, batch_size), k=1, max_iter=deflation_steps,
                                  tol=1e-6, seed=0)
    overlap = abs(float(prev.eigenvectors[0].double() @ eigen.eigenvectors[0].double()))
    warm_prev = lanczos_top_eigenpairs(op, k=1, max_iter=deflation_steps, tol=1e-6, start=prev.eigenvectors[0])
    m_warm_prev = first_within(prefix_top(warm_prev), reference_l1)
    rows.append(f"| Lanczos warm-started from ν1 one epoch earlier (|⟨ν1_prev, ν1⟩| = {overlap:.3f}; λ1 then "
                f"{prev.top:.4g}) | {fmt(m_warm_prev, 'd')} (residual stop after {warm_prev.n_hvp}) | {warm_prev.top:.6g} |")
    arpack_warm = arpack_top_eigenpairs(op, k=1, tol=1e-3, ncv=3, start=prev.eigenvectors[0], max_iter=30)
    warm_err = abs(arpack_warm.top - reference_l1) / abs(reference_l1)
    rows.append(f"| ARPACK warm-started from the same ν1, ncv = 3, tol = 1e-3 | {arpack_warm.n_hvp} "
                f"({'stops' if arpack_warm.converged else 'restart cap, not converged'}; error "
                f"{warm_err:.1e}) | {arpack_warm.top:.6g} |")
    second = lanczos_top_eigenpairs(op, k=1, max_iter=deflation_steps, tol=1e-6, start=stage_run.eigenvectors[0])
    m_second = first_within(prefix_top(second), reference_l1)
    rows.append(f"| Lanczos second restart warm-started from the first restart's ν1 | {fmt(m_second, 'd')} "
                f"(residual stop after {second.n_hvp}) | {second.top:.6g} |")
    lines += ["### λ1 within 1e-3 of the reference", "",
              f"Reference λ1 = {reference_l1:.6g}: the {eigen.iterations}-step Lanczos run above (relative Ritz "
              f"residual {rel_residual:.1e}). Every run starts from the same seeded Gaussian vector unless warm-started.", "",
              "| method | HVPs to 1e-3 | λ1 |", "|---|---|---|", *rows, ""]
    eigen_headline = {"lanczos": m_lanczos, "arpack": arpack_best, "power": m_power, "pyhessian": py.n_hvp,
                      "block-lanczos-2": m_block, "lanczos-warm-previous-epoch": m_warm_prev,
                      "lanczos-warm-second-restart": m_second}
    lines += [f"HVPs computed for this model: {op.computed} (of {op.n_hvp} counted; the rest replayed).", ""]
    return {"trace": headline, "lambda1": eigen_headline, "seconds_per_hvp": per_hvp, "reference_trace": ref_tr,
            "reference_lambda1": reference_l1}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study-out", default="raysym-runs/quick", help="quick study folder (its jets are used)")
    parser.add_argument("--out", default="bench/results/trace_precision.md")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small teacher only, smaller caps and reference")
    parser.add_argument("--models", default="small,paper", help="which teachers: small, paper or both (comma-separated)")
    parser.add_argument("--small-cap", type=int, default=128, help="HVP cap per trace run, small teacher")
    parser.add_argument("--paper-cap", type=int, default=128, help="HVP cap per trace run, paper teacher")
    parser.add_argument("--paper-jets", type=int, default=64)
    parser.add_argument("--small-reference", type=int, default=128, help="probes of the small teacher's reference trace")
    parser.add_argument("--paper-train-jets", type=int, default=1500,
                        help="train the paper teacher on a seeded subset of this many jets (0: all)")
    parser.add_argument("--deflation-steps", type=int, default=32, help="Lanczos steps whose Ritz vectors deflate")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from raysym.ray_session import ensure_ray
    from raysym.stages.jets import run_jets_stage

    started = time.perf_counter()
    quick = preset("quick")
    ensure_ray()
    train_data, _, _ = run_jets_stage(quick.data, Path(args.study_out), quick.recipe.task, quick.evaluation.tasks,
                                      progress=False)
    torch.set_num_threads(args.threads)
    jets = train_data["train"]
    lines = ["# Tr(H) and λ1 to a stated precision: HVPs per method", "",
             f"Measured {datetime.date.today()} on {platform.machine()} with {os.cpu_count()} cores (shared), "
             f"torch {torch.__version__}, {args.threads} threads, float32; Hessian of the BCE training loss on a "
             "fixed seeded subset of training jets. Teachers trained 2 epochs (last-epoch weights) on the quick "
             f"preset's generated g-vs-W jets. `python bench/trace_precision.py{' --quick' if args.quick else ''}`.", ""]
    results = {}
    models = {m.strip() for m in args.models.split(",")}
    if not models <= {"small", "paper"}:
        parser.error(f"--models takes small and/or paper, got {args.models!r}")
    if "small" in models:
        small_recipe = dataclasses.replace(quick.recipe, epochs=2)
        progress("training the small teacher")
        prev, model, seconds = train_two_epochs(small_recipe, train_data, None)
        lines += [f"Small teacher trained in {seconds:.0f} s.", ""]
        cap = 128 if args.quick else args.small_cap
        results["small"] = measure("(a) quick-study `small` teacher", model, prev, jets, 512, 256, cap,
                                   args.deflation_steps, 128 if args.quick else args.small_reference, 32,
                                   {"ncv": (3, 5, None), "tol": (1e-2, 1e-3)}, 40, lines)
        Path(args.out).write_text("\n".join(lines))  # the small teacher's part, in case the rest fails
    if "paper" in models and not args.quick:
        paper_recipe = dataclasses.replace(quick.recipe, model_preset="paper", epochs=2, batch_size=256)
        progress("training the paper teacher")
        prev, model, seconds = train_two_epochs(paper_recipe, train_data, args.paper_train_jets or None)
        lines += [f"Paper teacher trained in {seconds:.0f} s"
                  f"{f' on {args.paper_train_jets} jets' if args.paper_train_jets else ''}.", ""]
        results["paper"] = measure("(b) paper-size teacher", model, prev, jets, args.paper_jets, args.paper_jets,
                                   args.paper_cap, args.deflation_steps, 128, 16,
                                   {"ncv": (3, None), "tol": (1e-2, 1e-3)}, 30, lines)
    lines += [f"Whole benchmark: {time.perf_counter() - started:.0f} s.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return {"trace_hvps": {name: r["trace"] for name, r in results.items()},
            "lambda1_hvps_to_1e-3": {name: r["lambda1"] for name, r in results.items()}}


if __name__ == "__main__":
    main()
