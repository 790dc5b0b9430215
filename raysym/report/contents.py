"""What the report says: the run's settings and its scale beside the paper's, one verdict per finding of the
paper with its interval (docs/methods.md §8), the paper's three tables beside this study's numbers, the
working-point rejections, the curvature, robustness and distillation headlines (docs/methods.md §7).

This study's numbers are means over seeds with their 95 % t interval; the paper's are its mean ± std over
three seeds, as it prints them.
"""

from __future__ import annotations

import math
from pathlib import Path

from raysym.report import paper, summaries
from raysym.report.document import Block, Figure, Heading, Items, Paragraph, Table
from raysym.report.sequential_figures import looks_blocks
from raysym.report.selection import StudyRun
from raysym.report.summaries import Spread, number
from raysym.report.verdicts import NOT_MEASURED, PARITY_AUC, POWER, RATIO, REPRODUCED, Verdict, verdicts
from raysym.stages.analysis_registry import registered

#: What the report's interval columns hold, said once in every caption that uses them.
INTERVAL = "mean [95 % t interval of the mean] over seeds"


def _cell(spread: Spread | None, digits: int = 4) -> str:
    return "—" if spread is None else spread.text(digits)


def _paper(run: StudyRun, task: str, metric: str, which: str) -> str:
    """The paper's value of ``metric`` on ``task``: Glowacki measured hls4ml's tasks only."""
    if run.dataset.name != "hls4ml" or (task, metric) not in paper.PERFORMANCE:
        return "—"
    mean, sd = paper.PERFORMANCE[(task, metric)][which]
    return f"{mean:.4f} ± {sd:.4f}"


def dataset_line(run: StudyRun) -> str:
    """The data set and its tasks with their roles, in words (the report's first section)."""
    tasks = "; ".join(f"{t.name} = {t.label}" for t in run.dataset.tasks)
    weighted = ", every jet weighted by its data set's weight" if run.dataset.weighted else ""
    return f"Data set: {run.dataset.name}{weighted}; tasks: {tasks}"


def _count(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{int(value):,}"


def _range(values) -> str:
    """Counts as ``24`` or, where trials differ, ``24–30``."""
    values = sorted({int(v) for v in values if not (isinstance(v, float) and math.isnan(v))})
    if not values:
        return "—"
    return f"{values[0]:,}" if len(values) == 1 else f"{values[0]:,}–{values[-1]:,}"


def _flatten(settings: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (dotted name, value) rows, in name order."""
    rows = []
    for name, value in sorted(settings.items()):
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{name}.")
        else:
            rows.append((f"{prefix}{name}", ", ".join(map(str, value)) if isinstance(value, list) else str(value)))
    return rows


def _seeds_per_bias(run: StudyRun) -> str:
    if run.config is not None and run.config.get("seeds") is not None:
        return str(len(run.config["seeds"]))
    if run.has("trials"):
        return _range(run.table("trials").groupby("bias")["trial_id"].nunique())
    return "—"


def _scale(run: StudyRun) -> dict[str, str]:
    """This study's side of :data:`paper.SCALE`, as text ("—" where the store does not say)."""
    jets = run.jets or {}
    test = sum((jets.get("test_by_class") or {}).values()) if jets.get("test_by_class") else None
    recipe = (run.config or {}).get("recipe", {})
    epochs = recipe.get("epochs")
    trials = run.table("trials") if run.has("trials") else None
    if epochs is None and trials is not None:
        epochs = trials["epochs"].max()
    teachers = trials[trials["model"] == "teacher"] if trials is not None else None
    students = run.table("students") if run.has("students") else None
    return {"train_jets": _count(jets.get("train")), "val_jets": _count(jets.get("val")), "test_jets": _count(test),
            "epochs": _count(epochs),
            "teacher_parameters": _range(teachers["n_parameters"]) if teachers is not None and len(teachers) else "—",
            "student_parameters": _range(students["n_parameters"]) if students is not None else "—",
            "seeds": _seeds_per_bias(run)}


SCALE_NAMES = {"train_jets": "training jets", "val_jets": "validation jets", "test_jets": "test jets (all classes)",
               "epochs": "training epochs", "teacher_parameters": "teacher parameters",
               "student_parameters": "student parameters", "seeds": "seeds per bias"}


def scale_text(run: StudyRun) -> str:
    """One line setting the paper's scale beside this study's, for the captions of Tables 1–3."""
    ours, theirs = _scale(run), paper.SCALE

    def line(values: dict) -> str:
        return (f"{values['test_jets']} test jets, {values['epochs']} epochs, a {values['teacher_parameters']}-"
                f"parameter teacher, seeds per bias {values['seeds']}")

    return (f"This study: {line(ours)}. Paper: {line({k: f'{v:,}' for k, v in theirs.items()})} (Glowacki §3).")


def settings_blocks(run: StudyRun) -> list[Block]:
    """Where the jets came from and how the study was set up (from the ``studies`` table), its scale beside the
    paper's, and the generator's settings as a table."""
    blocks: list[Block] = [Heading("Study and data")]
    if run.config is None:
        return blocks + [Paragraph("This store holds no record of the run's settings (no studies table); the "
                                   "tables below use every row of the study."),
                         _scale_table(run)]
    config = run.config
    recipe = config.get("recipe", {})
    biases = ", ".join(sorted({str(b) for b in run.table("trials")["bias"]})) if run.has("trials") else "—"
    source = run.data_source or "—"
    generator = (config.get("data") or {}).get("generator")
    if generator and ": {" in source:
        source = source.split(": {")[0] + " (settings below)"
    lines = [dataset_line(run),
             f"Jets: {source}",
             f"Biases: {biases}; seeds {config.get('seeds')}",
             f"Training recipe: {recipe.get('model_preset')} models, {recipe.get('epochs')} epochs, batch "
             f"{recipe.get('batch_size')}, Adam lr {recipe.get('lr')}, weight decay {recipe.get('weight_decay')}, "
             f"task {recipe.get('task')}",
             _network_line(config),
             f"Run key: {run.run_key}"]
    if run.jets:
        by_class = ", ".join(f"{name} {count:,}" for name, count in (run.jets.get("test_by_class") or {}).items())
        lines.insert(1, f"Jets per split: train {_count(run.jets.get('train'))}, validation "
                        f"{_count(run.jets.get('val'))}, test by class {by_class or '—'}")
    distill = config.get("distillation", {})
    if distill.get("enabled"):
        student = distill.get("recipe", {})
        lines.append(f"Distillation: {student.get('model')} ({student.get('model_preset')}), {student.get('epochs')} "
                     f"epochs, lr {student.get('lr')}, teachers '{distill.get('teachers')}', student seeds "
                     f"{distill.get('student_seeds')}")
    blocks += [Items(tuple(lines)), _scale_table(run)]
    if generator and (config.get("data") or {}).get("path") is None:
        blocks.append(Table(("generator setting", "value"), tuple(_flatten(generator)),
                            "The jet generator's settings (Pythia 8 + FastJet + parametric detector)"))
    return blocks


def _network_line(config: dict) -> str:
    """The teacher's two settings the SEAL reference code fixes (docs/methods.md §4), as this run had them."""
    teacher = (config.get("model_options") or {}).get("teacher") or {}
    axis, dropout = teacher.get("jet_axis", "rapidity"), float(teacher.get("dropout", 0.0))
    same = axis == "pseudorapidity" and dropout == 0.1
    return (f"Teacher network: Δη against the jet's {axis}, dropout {dropout:g} in training ("
            + ("the SEAL reference code's choices" if same else
               "the SEAL reference code uses the jet's pseudorapidity and dropout 0.1") + "; docs/methods.md §4)")


def _scale_table(run: StudyRun) -> Table:
    ours = _scale(run)
    rows = tuple((SCALE_NAMES[key], f"{value:,}", ours[key]) for key, value in paper.SCALE.items())
    return Table(("scale", "paper (Glowacki §3)", "this study"), rows,
                 "What each side's numbers rest on. The paper's parameter count is its own; raysym's paper preset "
                 "has 1,255,425 (docs/methods.md §4)")


def jets_tested(run: StudyRun, tasks: tuple[str, ...]) -> str:
    """The test set behind a table of ``tasks``: jets per task, with signal and background where stored."""
    rows = run.table("evaluations")
    parts = []
    for task in tasks:
        part = rows[rows["task"] == task]
        if part.empty:
            continue
        counts = ""
        if {"n_signal", "n_background"} <= set(part) and part["n_background"].notna().all():
            counts = f" ({_range(part['n_signal'])} signal, {_range(part['n_background'])} background)"
        parts.append(f"{task} {_range(part['n_jets'])} jets{counts}")
    return "Test set per seed: " + "; ".join(parts) + "." if parts else ""


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
                         _paper(run, task, "accuracy", which) if which else "",
                         _paper(run, task, "roc_auc", which) if which else ""))
    headers = ("task", "bias", "seeds", "accuracy", "ROC-AUC", "paper accuracy (mean ± std)",
               "paper ROC-AUC (mean ± std)")
    return Table(headers, tuple(rows), f"{caption}; this study: {INTERVAL}. {jets_tested(run, tasks)} "
                                       f"{scale_text(run)}")


def curvature_blocks(run: StudyRun, found: list[Verdict] | None = None) -> list[Block]:
    """Table 2: λ1 and Tr(H) per bias with the Hutchinson error beside the seed spread, and the SEAL /
    unconstrained ratios with their simultaneous intervals (from the verdicts) beside the paper's."""
    rows = summaries.curvature(run)
    table_rows = []
    for bias, part in rows.groupby("bias", sort=True):
        table_rows.append((bias, str(len(part)), Spread.of(part["lambda1"]).text(3), Spread.of(part["trace"]).text(3),
                           number(part["trace_stderr"].mean(), 3, "g"), number(Spread.of(part["trace"]).sd, 3, "g")))
    eval_sets = _range(run.table("hessian")["eval_set_size"]) if "eval_set_size" in run.table("hessian") else "—"
    blocks: list[Block] = [Table(("bias", "seeds", "λ1", "Tr(H)", "mean Hutchinson SE of Tr(H)",
                                  "sd of Tr(H) over seeds"), tuple(table_rows),
                                 f"Table 2 — Hessian of the training loss on {eval_sets} training jets, {INTERVAL}")]
    found = {v.key: v for v in (found if found is not None else verdicts(run))}
    ratios = []
    for key, label in (("lambda1", "λ1"), ("trace", "Tr(H)")):
        verdict = found.get(key)
        if verdict is None or verdict.outcome == NOT_MEASURED:
            continue
        shown = _effect_text(verdict) if verdict.scale == RATIO else "— (a value ≤ 0: no ratio)"
        ratios.append((label, shown, f"{paper.CURVATURE_RATIOS[key]:.3f}", verdict.outcome))
    if ratios:
        blocks.append(Table(("ratio SEAL λ=0.1 / unconstrained", "this study [simultaneous interval]",
                             "paper (Table 2)", "verdict"), tuple(ratios),
                            "Ratio of the geometric means over seeds, with the verdicts' interval "
                            "(docs/methods.md §8). The seed spread already holds the Hutchinson error of each "
                            "trace; the table above shows how much of it that is"))
    note = found.get("trace")
    if note is not None and "Hutchinson" in note.detail:
        blocks.append(Paragraph("The Hutchinson standard error of Tr(H) is comparable to the seed spread or the "
                                "effect here: part of what separates the seeds is the trace estimator, not the "
                                "trained models, and more trace probes would narrow it."))
    return blocks


def _effect_text(v: Verdict) -> str:
    """``estimate [low, high]`` of a verdict, or its estimate alone without an interval."""
    digits, sign = (3, False) if v.scale == RATIO else (4, True)
    if math.isnan(v.low):
        return number(v.estimate, digits, sign=sign)
    return f"{number(v.estimate, digits, sign=sign)} [{number(v.low, digits, sign=sign)}, " \
           f"{number(v.high, digits, sign=sign)}]"


def rejection_block(run: StudyRun) -> Table:
    """Background rejection 1/ε_B at ε_S = 30 % and 50 %, the field's headline number (not in the paper). A
    cut that passes fewer than 10 background jets gives a bound or a count, not a mean."""
    frame = summaries.rejections(run)
    rows = []
    for (task, bias), part in frame.groupby(["task", "bias"], sort=True):
        cells = [summaries.rejection_text(part[part["efficiency"] == eff]) for eff in summaries.WORKING_POINTS]
        rows.append((task, bias, *cells))
    headers = ("task", "bias", *(f"1/ε_B at ε_S = {eff:.0%}" for eff in summaries.WORKING_POINTS))
    caption = (f"Background rejection at fixed signal efficiency, {INTERVAL}; where fewer than "
               f"{summaries.FEW_JETS} background jets pass a seed's cut, each seed's value with the counts: "
               f"\"≥ N\" when none of the N pass, \"~\" for a count under {summaries.FEW_JETS}")
    if run.has("evaluations"):
        caption += ". " + jets_tested(run, tuple(sorted(set(frame["task"]))))
    return Table(headers, tuple(rows), caption)


def headline_blocks(run: StudyRun) -> list[Block]:
    """Robustness, flatness and compressibility per bias, as means with intervals over seeds (students: over
    teachers and student seeds)."""
    blocks: list[Block] = []
    if run.has("smearing"):
        drops = summaries.smearing_drop(run)
        rows = tuple((bias, f"{part['sigma_max'].iloc[0]:g}", Spread.of(part["drop"]).text(4))
                     for bias, part in drops.groupby("bias", sort=True))
        sweep = run.table("smearing")
        jets = f"; {_range(sweep['n_jets'])} test jets per sweep" if "n_jets" in sweep else ""
        blocks.append(Table(("bias", "largest σ", "ROC-AUC lost from σ = 0"), rows,
                            f"pT smearing (Fig. 7), {INTERVAL}{jets}"))
    if run.has("goldstone"):
        rises = summaries.goldstone_rise(run)
        rows = tuple((bias, direction, f"{part['epsilon_max'].iloc[0]:g}", Spread.of(part["rise"]).text(4),
                      Spread.of(part["r_deviation"]).text(4))
                     for (bias, direction), part in rises.groupby(["bias", "direction"], sort=True))
        blocks.append(Table(("bias", "direction", "ε_max", "loss rise L(±ε_max) − L(0)", "max |R(ε) − 1|"), rows,
                            f"Pseudo-Goldstone scan (Figs. 5 and 6), {INTERVAL}"))
    if run.has("symmetry"):
        violation = summaries.symmetry_violation(run, "boost")
        jets = _range(run.table("symmetry")["n_jets"])
        rows = tuple((bias, str(len(part)), Spread.of(part["violation"]).text(4))
                     for bias, part in violation.groupby("bias", sort=True))
        if rows:
            blocks.append(Table(("bias", "seeds", "mean |σ(f(x)) − σ(f(Λx))| over every boost"), rows,
                                f"Learned symmetry (docs/methods.md §6.8), {INTERVAL}; {jets} test jets"))
    if run.has("students"):
        students = run.table("students")
        inside = run.dataset.by_role("in")[0]
        column = f"roc_auc_{inside.name}"
        rows = tuple((bias, str(part["trial_id"].nunique()), str(len(part)),
                      Spread.of(part["final_val_mse"]).text(3, "g"),
                      Spread.of(part[column]).text(4) if column in part else "—")
                     for bias, part in students.groupby("bias", sort=True))
        blocks.append(Table(("teacher bias", "teachers", "students", "final val MSE vs teacher",
                             f"student {inside.title} ROC-AUC"), rows,
                            "Distillation into the fixed student (Fig. 9); mean [95 % t interval] over teachers and "
                            "student seeds (the verdict counts each teacher once)"))
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
                            f"λ1 over training, {INTERVAL}"))
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


def _family(found: list[Verdict]) -> tuple[int, float]:
    """(m, α): how many findings have an interval, and the family error rate their level was set by."""
    family = max((v.family for v in found), default=0)
    level = next((v.level for v in found if not math.isnan(v.level)), math.nan)
    return family, (1 - level) * family if family else math.nan


def verdict_rule(found: list[Verdict]) -> str:
    """The rule of the verdicts, with this run's family size and per-interval level."""
    family, alpha = _family(found)
    if family:
        level = (f"The {family} intervals are simultaneous at {1 - alpha:.0%}: each is a t interval at "
                 f"1 − {alpha:.3g}/{family} = {1 - alpha / family:.1%} (Bonferroni).")
    else:
        level = "No finding has two seeds per bias, so none has an interval yet."
    return ("Rule (docs/methods.md §8): each finding compares SEAL λ = 0.1 with the unconstrained teacher, as a "
            "difference of means, or for λ1 and Tr(H) as a ratio of geometric means (a difference of logs). Its "
            "interval is a t interval over seeds: paired by seed when both biases have the same seeds (a seed "
            "gives both the same initial weights and batch order), Welch's otherwise. " + level + " Where the "
            "paper gives a number: reproduced (the interval excludes no effect, points the paper's way and "
            "contains the paper's value); same direction, smaller or larger than the paper (it excludes both); "
            "paper's size excluded, no effect resolved (it contains no effect but not the paper's value); "
            "opposite; not resolved (it contains both). Where the paper shows the finding only in a figure: "
            "reproduced, opposite or not resolved. Parity in distribution is reproduced when the interval lies "
            f"inside ±{PARITY_AUC:g} ROC-AUC and opposite when it lies outside. An unresolved finding gives the "
            f"smallest effect this study could detect at {POWER:.0%} power, and the seeds per bias that would "
            "detect the paper's effect with the measured spread, never from the observed effect.")


def mechanism_note(found: list[Verdict]) -> Paragraph:
    """What the first finding, the mechanism, means for reading the others."""
    verdict = next(v for v in found if v.key == "symmetry")
    if verdict.outcome == REPRODUCED:
        text = "SEAL measurably lowered the symmetry violation: the bias did what it is for, and the findings " \
               "below are about a model it shaped."
    elif verdict.outcome == NOT_MEASURED:
        text = "The symmetry violation was not measured, so it is unknown whether the bias took hold; read the " \
               "findings below with that in mind."
    else:
        text = "This run does not show that SEAL lowered the symmetry violation: the findings below may be about " \
               "a bias that did not take hold, and say little about what a working one does."
    return Paragraph(f"Read the mechanism first. {text}")


def correlation_block(found: list[Verdict]) -> Table | None:
    """Per finding with paired seeds: Pearson's r of the two biases' per-seed values, which is what pairing
    gains from (r > 0 narrows the paired interval)."""
    rows = tuple((v.key, str(v.n_a), summaries.correlation_text(v.correlation, v.n_a, "r"))
                 for v in found if v.paired and v.outcome != NOT_MEASURED)
    if not rows:
        return None
    return Table(("finding", "shared seeds", "Pearson r, SEAL against unconstrained"), rows,
                 "How alike the two biases' seeds are (log values for the ratios)")


def _figure_blocks(run: StudyRun, drawn: list[tuple[str, str]]) -> list[Block]:
    """The drawn figures, each with the caption of what this run's figure shows."""
    if not drawn:
        return []
    from raysym.report.figures import caption_for  # draws nothing; figures are drawn only with a caption

    return [Figure(png, caption_for(Path(png).stem, run) or caption) for png, caption in drawn]


def report_blocks(run: StudyRun, figures: list[tuple[str, str]], skipped: list[str]) -> list[Block]:
    """The whole report; ``figures`` are (PNG path relative to the report, caption)."""
    found = verdicts(run)
    blocks: list[Block] = [Heading(f"raysym study {run.study}", 1),
                           Paragraph("Every number below is read from the study's result store. This study's "
                                     "numbers are means over seeds with their 95 % t interval. Paper values: "
                                     "Glowacki 2026, Tables 1–3 (mean ± std over three seeds); see "
                                     "docs/methods.md §7.")]
    blocks += settings_blocks(run)
    blocks.append(Heading("Verdicts"))
    blocks.append(Paragraph(verdict_rule(found)))
    blocks.append(mechanism_note(found))
    blocks.append(Items(tuple(f"{v.finding}: {v.outcome.upper()} — {v.detail}" for v in found)))
    correlations = correlation_block(found)
    if correlations is not None:
        blocks.append(correlations)
    blocks.append(Heading("Performance"))
    if run.has("evaluations"):
        inside, ood = run.dataset.by_role("in")[0], run.dataset.ood
        hls4ml = run.dataset.name == "hls4ml"
        blocks.append(_performance_table(run, (inside.name,), ("Table 1 — " if hls4ml else "In distribution — ")
                                         + f"{inside.title}, test split"))
        if ood:
            blocks.append(_performance_table(run, tuple(t.name for t in ood), ("Table 3 — " if hls4ml else "")
                                             + "out of distribution: " + " and ".join(t.title for t in ood)))
    if run.has("roc"):
        blocks.append(rejection_block(run))
    blocks.append(Heading("Curvature"))
    if run.has("hessian"):
        blocks += curvature_blocks(run, found)
    blocks.append(Heading("Robustness, flatness, compressibility"))
    blocks += headline_blocks(run)
    blocks += trajectory_blocks(run)
    for spec in registered():  # an analysis that brings its own report section
        own = spec.report_blocks(run) if run.has(spec.table) else []
        if own:
            blocks += [Heading(spec.report_title or spec.name), *own]
    looks = looks_blocks(run)
    if looks:
        blocks.append(Heading("Seeds added until decided"))
        blocks += looks
    blocks.append(Heading("Figures"))
    blocks += _figure_blocks(run, figures)
    if skipped:
        blocks.append(Heading("Not shown"))
        blocks.append(Items(tuple(skipped)))
    return blocks


def verdict_lines(run: StudyRun, found: list[Verdict] | None = None) -> list[str]:
    """The verdicts as plain lines (for the command line): the outcome and the finding, then indented, the
    effect with its interval and what it rests on."""
    found = verdicts(run) if found is None else found
    family, alpha = _family(found)
    lines = [f"Verdicts (docs/methods.md §8): simultaneous {1 - alpha:.0%} t intervals over the {family} findings "
             f"that have one, each at {1 - alpha / family:.1%} (Bonferroni); paired by seed where the biases share "
             f"seeds"
             if family else "Verdicts (docs/methods.md §8): no finding has two seeds per bias, so none has an "
                            "interval"]
    for v in found:
        lines += [f"{v.outcome.upper()} — {v.finding}", f"    {v.detail}"]
    return lines


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as text columns as wide as their longest cell (long bias names stay aligned)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in (header, *rows)]


def summary_lines(run: StudyRun) -> list[str]:
    """The end-of-study summary for the command line: performance per bias and task, then the curvature,
    robustness and compressibility headlines per bias (means with their 95 % intervals over seeds), then the
    verdicts."""
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
        lines += [f"Per bias: {INTERVAL}"] + _columns(("bias", *names), rows) + [""]
    return lines + verdict_lines(run)
