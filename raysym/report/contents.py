"""What the report says: the run's settings, the paper's three tables beside this study's numbers, the
working-point rejections, the curvature, robustness and distillation headlines, and one verdict per
finding of the paper (docs/methods.md §7).
"""

from __future__ import annotations

import math

from raysym.report import paper, summaries
from raysym.report.document import Block, Figure, Heading, Items, Paragraph, Table
from raysym.report.selection import StudyRun
from raysym.report.summaries import Spread
from raysym.report.verdicts import verdicts

TASKS = ("g_vs_w", "g_vs_z", "g_vs_t")


def _cell(spread: Spread | None, digits: int = 4) -> str:
    return "—" if spread is None else spread.text(digits)


def _paper(task: str, metric: str, which: str) -> str:
    mean, sd = paper.PERFORMANCE[(task, metric)][which]
    return f"{mean:.4f} ± {sd:.4f}"


def settings_blocks(run: StudyRun) -> list[Block]:
    """Where the jets came from and how the study was set up (from the ``studies`` table)."""
    blocks: list[Block] = [Heading("Study and data")]
    if run.config is None:
        return blocks + [Paragraph("This store holds no record of the run's settings (no studies table); the "
                                   "tables below use every row of the study.")]
    config = run.config
    recipe = config.get("recipe", {})
    biases = ", ".join(sorted({str(b) for b in run.table("trials")["bias"]})) if run.has("trials") else "—"
    lines = [f"Jets: {run.data_source}",
             f"Biases: {biases}; seeds {config.get('seeds')}",
             f"Training recipe: {recipe.get('model_preset')} models, {recipe.get('epochs')} epochs, batch "
             f"{recipe.get('batch_size')}, Adam lr {recipe.get('lr')}, weight decay {recipe.get('weight_decay')}, "
             f"task {recipe.get('task')}",
             f"Run key: {run.run_key}"]
    if run.jets:
        lines.insert(1, f"Jets per split: train {run.jets.get('train')}, validation {run.jets.get('val')}, test "
                        f"by class {run.jets.get('test_by_class')}")
    distill = config.get("distillation", {})
    if distill.get("enabled"):
        student = distill.get("recipe", {})
        lines.append(f"Distillation: {student.get('model')} ({student.get('model_preset')}), {student.get('epochs')} "
                     f"epochs, lr {student.get('lr')}, teachers '{distill.get('teachers')}', student seeds "
                     f"{distill.get('student_seeds')}")
    return blocks + [Items(tuple(lines))]


def _performance_table(run: StudyRun, tasks: tuple[str, ...], caption: str) -> Table:
    frame = summaries.performance(run)
    unconstrained, constrained = summaries.paper_biases(run)
    rows = []
    for task in tasks:
        for bias in sorted(frame["bias"].unique()):
            part = frame[(frame["bias"] == bias) & (frame["task"] == task)].set_index("metric")
            if part.empty:
                continue
            which = {unconstrained: "unconstrained", constrained: "constrained"}.get(bias)
            rows.append((task, bias, str(int(part["n"].max())), _cell(part.loc["accuracy", "spread"]),
                         _cell(part.loc["roc_auc", "spread"]),
                         _paper(task, "accuracy", which) if which else "",
                         _paper(task, "roc_auc", which) if which else ""))
    return Table(("task", "bias", "seeds", "accuracy", "ROC-AUC", "paper accuracy", "paper ROC-AUC"), tuple(rows),
                 caption)


def curvature_blocks(run: StudyRun) -> list[Block]:
    """Table 2: λ1 and Tr(H) per bias and the constrained / unconstrained ratios beside the paper's."""
    rows = summaries.curvature(run)
    table_rows = []
    for bias, part in rows.groupby("bias", sort=True):
        table_rows.append((bias, str(len(part)), Spread.of(part["lambda1"]).text(3), Spread.of(part["trace"]).text(3),
                           f"{part['trace_stderr'].mean():.3g}"))
    blocks: list[Block] = [Table(("bias", "seeds", "λ1", "Tr(H)", "mean Hutchinson SE of Tr(H)"), tuple(table_rows),
                                 "Table 2 — Hessian of the training loss, mean ± std over seeds")]
    unconstrained, constrained = summaries.paper_biases(run)
    if unconstrained and constrained:
        ratios = []
        for quantity, label in (("lambda1", "λ1"), ("trace", "Tr(H)")):
            ratio, error = summaries.curvature_ratio(rows, quantity, constrained, unconstrained)
            shown = f"{ratio:.3f}" + ("" if math.isnan(error) else f" ± {error:.3f}")
            ratios.append((label, shown, f"{paper.CURVATURE_RATIOS[quantity]:.3f}"))
        blocks.append(Table(("ratio SEAL λ=0.1 / unconstrained", "this study", "paper (Table 2)"), tuple(ratios),
                            "Uncertainties: standard errors over seeds, with the Hutchinson standard errors added "
                            "in quadrature for Tr(H)"))
    return blocks


def rejection_block(run: StudyRun) -> Table:
    """Background rejection 1/ε_B at ε_S = 30 % and 50 %, the field's headline number (not in the paper)."""
    frame = summaries.rejections(run)
    rows = []
    for (task, bias), part in frame.groupby(["task", "bias"], sort=True):
        cells = [Spread.of(part.loc[part["efficiency"] == eff, "rejection"]).text(1)
                 for eff in summaries.WORKING_POINTS]
        rows.append((task, bias, *cells))
    headers = ("task", "bias", *(f"1/ε_B at ε_S = {eff:.0%}" for eff in summaries.WORKING_POINTS))
    return Table(headers, tuple(rows), "Background rejection at fixed signal efficiency, mean ± std over seeds")


def headline_blocks(run: StudyRun) -> list[Block]:
    """Robustness, flatness and compressibility per bias, as mean ± std over seeds (students)."""
    blocks: list[Block] = []
    if run.has("smearing"):
        drops = summaries.smearing_drop(run)
        rows = tuple((bias, f"{part['sigma_max'].iloc[0]:g}", Spread.of(part["drop"]).text(4))
                     for bias, part in drops.groupby("bias", sort=True))
        blocks.append(Table(("bias", "largest σ", "ROC-AUC lost from σ = 0"), rows, "pT smearing (Fig. 7)"))
    if run.has("goldstone"):
        rises = summaries.goldstone_rise(run)
        rows = tuple((bias, direction, f"{part['epsilon_max'].iloc[0]:g}", Spread.of(part["rise"]).text(4),
                      Spread.of(part["r_deviation"]).text(4))
                     for (bias, direction), part in rises.groupby(["bias", "direction"], sort=True))
        blocks.append(Table(("bias", "direction", "ε_max", "loss rise L(±ε_max) − L(0)", "max |R(ε) − 1|"), rows,
                            "Pseudo-Goldstone scan (Figs. 5 and 6)"))
    if run.has("students"):
        students = run.table("students")
        rows = tuple((bias, str(part["trial_id"].nunique()), str(len(part)),
                      Spread.of(part["final_val_mse"]).text(3, "g"),
                      Spread.of(part["roc_auc_g_vs_w"]).text(4) if "roc_auc_g_vs_w" in part else "—")
                     for bias, part in students.groupby("bias", sort=True))
        blocks.append(Table(("teacher bias", "teachers", "students", "final val MSE vs teacher",
                             "student g vs W ROC-AUC"), rows,
                            "Distillation into the fixed student (Fig. 9); mean ± std over teachers and student seeds"))
    return blocks


def _epochs_text(epochs, span: bool = True) -> str:
    """Epochs as ``2–8 (4 epochs)`` (``span``) or ``6, 8``; one as ``6``."""
    epochs = sorted({int(e) for e in epochs if not math.isnan(e)})
    if len(epochs) < 2:
        return str(epochs[0]) if epochs else "—"
    return f"{epochs[0]}–{epochs[-1]} ({len(epochs)} epochs)" if span else ", ".join(map(str, epochs))


def trajectory_blocks(run: StudyRun) -> list[Block]:
    """λ1 at the first kept, the best and the last kept epoch per bias, and Spearman's ρ between λ1 and the
    in-distribution ROC-AUC over every analysed (trial, epoch); nothing unless some trial was analysed at
    more than one epoch."""
    if not run.has_trajectory():
        return []
    blocks: list[Block] = [Heading("Over the training trajectory"),
                           Paragraph("The study kept the weights of several epochs of each trial and analysed each "
                                     "of them. The sections above are about each trial's best model (lowest "
                                     "validation loss); this one and the trajectory figures follow every kept "
                                     "epoch.")]
    if run.has_trajectory("hessian"):
        kept = summaries.curvature_trajectory(run)
        milestones = summaries.lambda1_over_training(run)
        rows = tuple((bias, str(len(part)), _epochs_text(kept.loc[kept["bias"] == bias, "epoch"]),
                      _epochs_text(part["best_epoch"], span=False), Spread.of(part["first"]).text(3),
                      Spread.of(part["best"]).text(3), Spread.of(part["last"]).text(3))
                     for bias, part in milestones.groupby("bias", sort=True))
        blocks.append(Table(("bias", "seeds", "kept epochs", "best epochs", "λ1 at the first kept epoch",
                             "λ1 at the best epoch", "λ1 at the last kept epoch"), rows,
                            "λ1 over training, mean ± std over seeds"))
    if "hessian" in run.trajectories and "evaluations" in run.trajectories:
        points = summaries.flatness_points(run)
        rho, n = summaries.spearman(points["lambda1"], points["roc_auc"])
        per_bias = "; ".join(f"{bias} {summaries.correlation_text(*summaries.spearman(part.lambda1, part.roc_auc))}"
                             for bias, part in points.groupby("bias", sort=True))
        blocks.append(Paragraph(f"Flatness and performance: Spearman's rank correlation between λ1 and the test "
                                f"ROC-AUC on each trial's training task, over every analysed (trial, epoch): "
                                f"{summaries.correlation_text(rho, n)}; per bias: {per_bias or '—'}. ρ < 0 means "
                                f"flatter weights (smaller λ1) score higher. The epochs of one trial are not "
                                f"independent draws, so ρ describes these points; it is not a test."))
    return blocks


def report_blocks(run: StudyRun, figures: list[tuple[str, str]], skipped: list[str]) -> list[Block]:
    """The whole report; ``figures`` are (PNG path relative to the report, caption)."""
    blocks: list[Block] = [Heading(f"raysym study {run.study}", 1),
                           Paragraph("Every number below is read from the study's result store. Paper values: "
                                     "Glowacki 2026, Tables 1–3 (mean ± std over three seeds); see "
                                     "docs/methods.md §7.")]
    blocks += settings_blocks(run)
    blocks.append(Heading("Verdicts"))
    blocks.append(Paragraph("Rule: a finding is reproduced when this study's effect points the paper's way by more "
                            "than twice its standard error over seeds, opposite when it points the other way by more "
                            "than that, not resolved otherwise; parity in distribution is reproduced when the ROC-AUC "
                            "difference is within twice its standard error and below 0.01."))
    blocks.append(Items(tuple(f"{v.finding}: {v.outcome.upper()} — {v.detail}" for v in verdicts(run))))
    blocks.append(Heading("Performance"))
    if run.has("evaluations"):
        blocks.append(_performance_table(run, ("g_vs_w",), "Table 1 — g vs W, test split, mean ± std over seeds"))
        blocks.append(_performance_table(run, ("g_vs_z", "g_vs_t"),
                                         "Table 3 — out of distribution: g vs Z and g vs top, mean ± std over seeds"))
    if run.has("roc"):
        blocks.append(rejection_block(run))
    blocks.append(Heading("Curvature"))
    if run.has("hessian"):
        blocks += curvature_blocks(run)
    blocks.append(Heading("Robustness, flatness, compressibility"))
    blocks += headline_blocks(run)
    blocks += trajectory_blocks(run)
    blocks.append(Heading("Figures"))
    blocks += [Figure(png, caption) for png, caption in figures]
    if skipped:
        blocks.append(Heading("Not shown"))
        blocks.append(Items(tuple(skipped)))
    return blocks


def verdict_lines(run: StudyRun) -> list[str]:
    """The verdicts as plain lines (for the command line)."""
    return [f"{v.outcome:>13}  {v.finding}" for v in verdicts(run)]


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as text columns as wide as their longest cell (long bias names stay aligned)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows)]


def summary_lines(run: StudyRun) -> list[str]:
    """The end-of-study summary for the command line: performance per bias and task, then the curvature,
    robustness and compressibility headlines per bias, then the verdicts."""
    lines: list[str] = []
    if run.has("evaluations"):
        frame = summaries.performance(run)
        rows = []
        for (bias, task), part in frame.groupby(["bias", "task"], sort=True):
            part = part.set_index("metric")
            rows.append((bias, task, str(int(part["n"].max())), part.loc["accuracy", "spread"].text(4),
                         part.loc["roc_auc", "spread"].text(4)))
        lines += _columns(("bias", "task", "seeds", "accuracy", "ROC-AUC"), rows) + [""]
    columns: dict[str, dict[str, str]] = {}
    if run.has("hessian"):
        for bias, part in summaries.curvature(run).groupby("bias"):
            columns.setdefault(bias, {}).update(λ1=Spread.of(part["lambda1"]).text(3),
                                                **{"Tr(H)": Spread.of(part["trace"]).text(3)})
    if run.has("smearing"):
        for bias, part in summaries.smearing_drop(run).groupby("bias"):
            name = f"AUC lost at σ={part['sigma_max'].iloc[0]:g}"
            columns.setdefault(bias, {})[name] = Spread.of(part["drop"]).text(4)
    if run.has("students"):
        for bias, part in run.table("students").groupby("bias"):
            columns.setdefault(bias, {})["distillation MSE"] = Spread.of(part["final_val_mse"]).text(3, "g")
    if columns:
        names = list(dict.fromkeys(name for values in columns.values() for name in values))
        rows = [(bias, *(values.get(name, "—") for name in names)) for bias, values in sorted(columns.items())]
        lines += _columns(("bias", *names), rows) + [""]
    return lines + verdict_lines(run)
