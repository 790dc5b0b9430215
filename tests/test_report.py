"""Figures and report from a store alone (raysym.report): the plotted data are the stored values, the
report's tables hold them with their intervals, the test-set size and both scales, verdicts follow the
stated rule (each of the five outcomes from a hand-made store), rejections turn into bounds where the
background runs out, missing tables skip only their figures, and the HTML stands alone."""

import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from raysym.errors import DataError
from raysym.report import contents, figures, statistics, summaries
from raysym.report.command import write_figures, write_report
from raysym.report.document import markdown
from raysym.report.selection import select_run
from raysym.report.verdicts import (LARGER, NOT_MEASURED, NOT_RESOLVED, OPPOSITE, PAPER_EXCLUDED, REPRODUCED, SMALLER,
                                    verdicts)
from raysym.store import ResultStore

BIASES = {"teacher": ("none", 0.0), "teacher-seal-0.1": ("seal", 0.1)}
#: Known values per (bias, seed): g vs W ROC-AUC and accuracy, λ1, Tr(H), AUC at σ = 0.5, distillation MSE.
#: Chosen so that, paired by seed at the family level over the 8 findings measured (1 − 0.05/8), the verdicts
#: are: parity reproduced, λ1 reproduced, Tr(H) paper's size excluded, Goldstone reproduced, smearing and
#: distillation opposite, both OOD differences (+0.002) smaller than the paper's.
KNOWN = {
    ("teacher", 0): dict(auc=0.90, acc=0.80, lambda1=20.0, trace=40.0, smeared=0.70, mse=0.10),
    ("teacher", 1): dict(auc=0.92, acc=0.82, lambda1=22.0, trace=44.0, smeared=0.74, mse=0.12),
    ("teacher", 2): dict(auc=0.91, acc=0.81, lambda1=21.0, trace=42.0, smeared=0.72, mse=0.11),
    ("teacher-seal-0.1", 0): dict(auc=0.902, acc=0.80, lambda1=1.6, trace=30.0, smeared=0.602, mse=0.30),
    ("teacher-seal-0.1", 1): dict(auc=0.9221, acc=0.81, lambda1=1.9, trace=55.0, smeared=0.6321, mse=0.33),
    ("teacher-seal-0.1", 2): dict(auc=0.9119, acc=0.82, lambda1=1.7, trace=45.0, smeared=0.6169, mse=0.31),
}
#: Background jets in each task's test set.
N_BACKGROUND = 1000


def keys(bias, seed):
    penalty, lam = BIASES[bias]
    return {"study": "known", "trial_id": f"{bias}-s{seed}", "model": "teacher", "penalty": penalty, "lam": lam,
            "seed": seed, "bias": bias}


#: What every analysed model's rows record: its epoch and that it is the trial's best model.
BEST = {"epoch": 2, "best": True}


def write_known_store(path, skip=(), dated=True):
    """The known store; ``dated=False`` writes the analysed models' rows without epoch and best, as raysym
    did before it analysed trajectories (a schema-1 store)."""
    store = ResultStore(path).create()
    for (bias, seed), v in KNOWN.items():
        k, tid = keys(bias, seed), keys(bias, seed)["trial_id"]
        m = {**k, **BEST} if dated else k

        def write(table, rows, tid=tid):
            store.write(table, rows, key=tid)

        if "trials" not in skip:
            write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3 + seed / 10,
                              "epochs": 2, "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}])
        write("epochs", [{**k, "epoch": e, "train_bce": 0.5, "train_penalty": 0.0, "train_loss": 0.5,
                          "val_loss": 0.6 - e / 10 - seed / 100, "val_bce": 0.5, "val_penalty": 0.0,
                          "val_accuracy": 0.8, "val_roc_auc": 0.8 + e / 100, "epoch_seconds": 1.0,
                          "jets_per_second": 1.0} for e in (1, 2)])
        write("evaluations", [{**m, "task": task, "split": "test", "accuracy": v["acc"] - shift,
                               "roc_auc": v["auc"] - shift, "n_jets": 2 * N_BACKGROUND, "n_signal": N_BACKGROUND,
                               "n_background": N_BACKGROUND}
                              for task, shift in (("g_vs_w", 0.0), ("g_vs_z", 0.05), ("g_vs_t", 0.3))])
        tpr = np.linspace(0, 1, 11)
        fpr = tpr ** (2 + seed)  # a steeper curve per seed
        write("roc", [{**m, "task": task, "split": "test", "fpr": f, "tpr": t, "threshold": -t}
                      for task in ("g_vs_w", "g_vs_z", "g_vs_t") for f, t in zip(fpr, tpr)])
        write("hessian", [{**m, "k": 1, "eigenvalue": v["lambda1"], "trace": v["trace"], "trace_stderr": 1.5,
                           "n_hvp": 40, "seconds": 1.0, "backend": "lanczos", "eval_set_size": 64,
                           "nu1_path": "/nu1.pt", "settings_key": "h"}])
        grid = np.linspace(-1, v["lambda1"] + 1, 20)
        write("spectrum", [{**m, "eigenvalue": t, "density": float(np.exp(-t * t)) + 1e-3, "settings_key": "s"}
                           for t in grid])
        if "goldstone" not in skip:
            write("goldstone", [{**m, "direction": d, "epsilon": e, "loss": 0.3 + (v["lambda1"] / 100 if d == "nu1"
                                                                              else 0.001) * e * e,
                                 "r_mean": 1.0 + e / 10, "r_std": 0.1, "settings_key": "g"}
                                for d in ("nu1", "random") for e in (-0.2, -0.1, 0.0, 0.1, 0.2)])
        write("smearing", [{**m, "sigma": s, "task": "g_vs_w", "roc_auc": a, "accuracy": 0.8, "settings_key": "m"}
                           for s, a in ((0.0, v["auc"]), (0.5, v["smeared"]))])
        sid = f"{tid}-d0"
        store.write("distillation", [{**k, "student_id": sid, "student_seed": 0, "epoch": e,
                                      "train_mse": v["mse"] * (3 - e), "val_mse": v["mse"] * (3 - e),
                                      "settings_key": "d"} for e in (0, 1, 2)], key=sid)
        store.write("students", [{**k, "student_id": sid, "student_seed": 0, "final_val_mse": v["mse"],
                                  "best_val_mse": v["mse"], "best_epoch": 2, "epochs": 2, "n_parameters": 5,
                                  "model_path": "/s.pt", "settings_key": "d", "roc_auc_g_vs_w": v["auc"] - 0.01}],
                    key=sid)
    return path


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    return write_known_store(tmp_path_factory.mktemp("known") / "store")


def mean_of(bias, name):
    return np.mean([v[name] for (b, _), v in KNOWN.items() if b == bias])


def test_smearing_and_distillation_lines_are_the_means_of_the_stored_values(known):
    run = select_run(known)
    colours = figures.palette(run)
    ax = figures.smearing(run).axes[0]
    for bias in BIASES:
        [line] = [line for line in ax.lines if tuple(line.get_color()[:3]) == tuple(colours[bias][:3])
                  and len(line.get_xdata()) == 2]
        assert list(line.get_xdata()) == [0.0, 0.5]
        assert line.get_ydata() == pytest.approx([mean_of(bias, "auc"), mean_of(bias, "smeared")])
    ax = figures.distillation(run).axes[0]
    teacher = [line for line in ax.lines if len(line.get_xdata()) == 3][0]
    assert teacher.get_ydata() == pytest.approx([3 * mean_of("teacher", "mse"), 2 * mean_of("teacher", "mse"),
                                                 mean_of("teacher", "mse")])


def test_roc_lines_are_the_median_seeds_curve_as_rejection_against_efficiency(known):
    run = select_run(known)
    ax = figures.roc_curves(run).axes[0]
    # g vs W AUCs per seed: teacher 0.90, 0.92, 0.91 -> the median seed is seed 2; its curve has fpr = tpr⁴.
    teacher = ax.lines[0]
    tpr = np.linspace(0, 1, 11)[1:]
    assert teacher.get_xdata() == pytest.approx(tpr)
    assert teacher.get_ydata() == pytest.approx(1 / tpr ** 4)
    assert ax.get_yscale() == "log" and "ε_S" in ax.get_xlabel() and "1/ε_B" in ax.get_ylabel()


def test_curvature_points_are_the_stored_eigenvalues_and_traces(known):
    fig = figures.curvature(select_run(known))
    plotted = sorted(float(y) for line in fig.axes[0].lines for y in line.get_ydata()
                     if line.get_marker() == "o")
    assert plotted == sorted(v["lambda1"] for v in KNOWN.values())
    assert "λ1" in fig.axes[0].get_ylabel() and fig.axes[1].get_ylabel() == "Tr(H)"


def test_report_tables_hold_the_stored_numbers_with_intervals_and_the_paper_beside_them(known, tmp_path):
    written = write_report(select_run(known), tmp_path)
    md = (tmp_path / "report.md").read_text()
    accuracy = summaries.Spread.of([0.80, 0.82, 0.81]).text(4)
    low, high = stats.t.interval(0.95, 2, loc=0.91, scale=0.01 / np.sqrt(3))  # ROC-AUC: mean 0.91, sd 0.01
    assert f"| g_vs_w | teacher | 3 | {accuracy} | 0.9100 [{low:.4f}, {high:.4f}] | 0.9424 ± 0.0024 | " \
           f"0.9875 ± 0.0005 |" in md
    assert "| g_vs_t | teacher-seal-0.1 | 3 |" in md and "0.5323 ± 0.0124" in md  # Table 3 with the paper
    ratio = stats.gmean([1.6, 1.9, 1.7]) / stats.gmean([20.0, 22.0, 21.0])
    assert re.search(rf"\| λ1 \| {ratio:.3f} \[0\.\d+, 0\.\d+\] \| 0\.079 \| reproduced \|", md)
    assert "1/ε_B at ε_S = 30%" in md and "Table 1" in md and "Table 2" in md and "Table 3" in md
    assert "± std over" not in md.replace("mean ± std over three seeds", "")  # ours are intervals, not std
    assert len(written.figures) == 7 and not written.skipped  # flatness_auc too: every row has its epoch


def test_tables_state_the_test_set_and_both_scales(known):
    md = markdown(contents.report_blocks(select_run(known), [], []))
    assert f"g_vs_w {2 * N_BACKGROUND:,} jets ({N_BACKGROUND:,} signal, {N_BACKGROUND:,} background)" in md
    assert "| training epochs | 100 | 2 |" in md and "| teacher parameters | 1,256,356 | 10 |" in md
    assert "| seeds per bias | 3 | 3 |" in md
    assert "Paper: 104,704 test jets, 100 epochs, a 1,256,356-parameter teacher" in md


def test_values_below_a_thousandth_print_in_scientific_notation(known):
    assert summaries.number(4.5e-4) == "4.50e-04" and summaries.number(0.0) == "0.0000"
    assert summaries.number(0.0123) == "0.0123" and summaries.number(-2e-6, sign=True) == "-2.00e-06"
    md = markdown(contents.report_blocks(select_run(known), [], []))
    # The loss rise along a random direction is 0.001 · 0.2² = 4e-5 for every seed.
    assert "| teacher | random | 0.2 | 4.00e-05" in md and "0.0000" not in md


def test_verdicts_follow_the_rule_from_the_numbers(known):
    found = {v.key: v for v in verdicts(select_run(known))}
    assert list(found)[0] == "symmetry" and found["symmetry"].outcome == NOT_MEASURED  # the mechanism first
    assert found["auc_g_vs_w"].outcome == REPRODUCED  # +0.002, inside ±0.01
    assert found["lambda1"].outcome == REPRODUCED and found["lambda1"].scale == "ratio"
    assert found["lambda1"].low < 0.079 < found["lambda1"].high
    trace = found["trace"]  # 42 vs 43.3, spread 2 and 12.6: no effect resolved, but the paper's 0.119 excluded
    assert trace.outcome == PAPER_EXCLUDED and trace.low <= 1 <= trace.high and trace.low > 0.119
    assert "smallest detectable ratio" in trace.detail and f"{trace.seeds_needed} seeds per bias" in trace.detail
    assert found["goldstone"].outcome == REPRODUCED
    assert found["smearing"].outcome == OPPOSITE and found["distillation"].outcome == OPPOSITE
    assert found["auc_g_vs_z"].outcome == SMALLER and found["auc_g_vs_t"].outcome == SMALLER
    for verdict in found.values():
        if verdict.outcome != NOT_MEASURED:
            assert verdict.paired and (verdict.n_a, verdict.n_b) == (3, 3) and verdict.df == 2
            assert verdict.family == 8 and verdict.level == pytest.approx(1 - 0.05 / 8)


def test_a_paired_verdict_is_scipys_paired_interval_at_the_family_level(known):
    [parity] = [v for v in verdicts(select_run(known)) if v.key == "auc_g_vs_w"]
    a = [KNOWN[("teacher", s)]["auc"] for s in range(3)]
    b = [KNOWN[("teacher-seal-0.1", s)]["auc"] for s in range(3)]
    reference = stats.ttest_rel(b, a)
    assert (parity.low, parity.high) == pytest.approx(tuple(reference.confidence_interval(1 - 0.05 / 8)))
    assert parity.p == pytest.approx(reference.pvalue)
    assert parity.correlation == pytest.approx(stats.pearsonr(a, b).statistic)


def test_the_family_error_rate_is_a_parameter(known):
    run = select_run(known)
    strict = {v.key: v for v in verdicts(run, alpha=0.001)}
    loose = {v.key: v for v in verdicts(run, alpha=0.05)}
    assert strict["goldstone"].level == pytest.approx(1 - 0.001 / 8)
    assert strict["goldstone"].high - strict["goldstone"].low > loose["goldstone"].high - loose["goldstone"].low
    assert strict["smearing"].outcome == NOT_RESOLVED and loose["smearing"].outcome == OPPOSITE


def test_the_hutchinson_error_is_named_where_it_rivals_the_spread_or_the_effect(tmp_path):
    run = select_run(write_known_store(tmp_path / "noisy"))  # Hutchinson SE 1.5, seed sd 2, effect 1.3
    [trace] = [v for v in verdicts(run) if v.key == "trace"]
    assert "Hutchinson standard error of Tr(H) (1.5" in trace.detail
    assert "Hutchinson standard error of Tr(H) is comparable" in markdown(contents.curvature_blocks(run))
    store = ResultStore(tmp_path / "noisy")
    for (bias, seed), v in KNOWN.items():  # a precise trace estimate
        k = keys(bias, seed)
        store.write("hessian", [{**k, **BEST, "k": 1, "eigenvalue": v["lambda1"], "trace": v["trace"], "trace_stderr": 0.01,
                                 "n_hvp": 40, "seconds": 1.0, "backend": "lanczos", "eval_set_size": 64,
                                 "nu1_path": "/nu1.pt", "settings_key": "h"}], key=k["trial_id"])
    [trace] = [v for v in verdicts(select_run(tmp_path / "noisy")) if v.key == "trace"]
    assert "Hutchinson" not in trace.detail


#: SEAL − unconstrained g vs top ROC-AUC per seed (paper: +0.1146), one set per outcome.
OUTCOME_DIFFERENCES = {
    REPRODUCED: [0.110, 0.115, 0.118, 0.112],
    SMALLER: [0.050, 0.052, 0.049, 0.051],
    LARGER: [0.200, 0.205, 0.198, 0.202],
    PAPER_EXCLUDED: [0.001, -0.002, 0.0015, -0.001],
    OPPOSITE: [-0.050, -0.052, -0.049, -0.051],
    NOT_RESOLVED: [0.10, -0.10, 0.05, -0.04],
}


def write_effect_store(path, differences, seal_seeds=(0, 1, 2, 3)):
    """Trials and evaluations only: the unconstrained teacher's g vs top ROC-AUC per seed, and SEAL's shifted
    by ``differences``; every other finding is not measured, or (g vs W, g vs Z) equal for both."""
    store = ResultStore(path).create()
    base = [0.50, 0.52, 0.51, 0.53]
    for bias, seeds in (("teacher", (0, 1, 2, 3)), ("teacher-seal-0.1", seal_seeds)):
        for i, seed in enumerate(seeds):
            k = {**keys(bias, seed), "study": "effect"}
            shift = differences[i] if bias != "teacher" else 0.0
            store.write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3, "epochs": 2,
                                    "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}],
                        key=k["trial_id"])
            store.write("evaluations", [{**k, **BEST, "task": "g_vs_t", "split": "test", "accuracy": 0.5,
                                         "roc_auc": base[i] + shift, "n_jets": 200}], key=k["trial_id"])
    return path


@pytest.mark.parametrize("expected", list(OUTCOME_DIFFERENCES))
def test_each_of_the_five_outcomes_follows_from_a_hand_made_store_and_is_rendered(expected, tmp_path):
    run = select_run(write_effect_store(tmp_path / "store", OUTCOME_DIFFERENCES[expected]))
    found = {v.key: v for v in verdicts(run)}
    verdict = found["auc_g_vs_t"]
    assert verdict.outcome == expected and verdict.paper == pytest.approx(0.1146)
    assert verdict.family == 1 and verdict.level == pytest.approx(0.95)  # the only finding with an interval
    md = markdown(contents.report_blocks(run, [], []))
    line = next(line for line in md.splitlines() if line.startswith("- Far out of distribution: higher g vs top"))
    assert f": {expected.upper()} — " in line and "interval [" in line and "paper +0.1146" in line
    printed = contents.verdict_lines(run)
    assert f"{expected.upper()} — Far out of distribution: higher g vs top ROC-AUC with SEAL (Table 3)" in printed
    unresolved = expected in (NOT_RESOLVED, PAPER_EXCLUDED)
    assert ("smallest detectable effect" in line) == unresolved
    assert (f"{verdict.seeds_needed} seeds per bias would detect the paper's +0.1146" in line) == unresolved


def test_seeds_needed_come_from_the_spread_and_the_papers_effect_never_the_observed_one(tmp_path):
    """Two stores with the same spread of differences and different observed effects need the same seeds."""
    spread = np.array([0.02, -0.02, 0.01, -0.01])
    found = [{v.key: v for v in verdicts(select_run(write_effect_store(tmp_path / name, list(centre + spread))))}
             for name, centre in (("zero", 0.0), ("some", 0.03))]
    assert found[1]["auc_g_vs_t"].estimate - found[0]["auc_g_vs_t"].estimate == pytest.approx(0.03)
    needed = statistics.seeds_needed_paired(float(np.std(spread, ddof=1)), 0.1146, 0.05)
    assert found[0]["auc_g_vs_t"].seeds_needed == found[1]["auc_g_vs_t"].seeds_needed == needed
    assert found[0]["auc_g_vs_t"].mde == pytest.approx(found[1]["auc_g_vs_t"].mde)


def test_biases_without_the_same_seeds_get_welchs_interval(tmp_path):
    run = select_run(write_effect_store(tmp_path / "store", OUTCOME_DIFFERENCES[SMALLER], seal_seeds=(0, 1, 2, 5)))
    [verdict] = [v for v in verdicts(run) if v.key == "auc_g_vs_t"]
    a = [0.50, 0.52, 0.51, 0.53]
    b = [x + d for x, d in zip(a, OUTCOME_DIFFERENCES[SMALLER])]
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert not verdict.paired and verdict.df == pytest.approx(reference.df)
    assert (verdict.low, verdict.high) == pytest.approx(tuple(reference.confidence_interval(0.95)))
    assert "Welch" in verdict.detail and math.isnan(verdict.correlation)


def test_one_seed_per_bias_gives_no_interval_and_says_why(tmp_path):
    store = ResultStore(tmp_path / "one").create()
    for bias, auc in (("teacher", 0.60), ("teacher-seal-0.1", 0.62)):
        k = keys(bias, 0)
        store.write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3, "epochs": 2,
                                "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}], key=k["trial_id"])
        store.write("evaluations", [{**k, **BEST, "task": "g_vs_t", "split": "test", "accuracy": 0.5, "roc_auc": auc,
                                     "n_jets": 200}], key=k["trial_id"])
    [verdict] = [v for v in verdicts(select_run(tmp_path / "one")) if v.key == "auc_g_vs_t"]
    assert verdict.outcome == NOT_RESOLVED and verdict.family == 0 and verdict.seeds_needed is None
    assert verdict.estimate == pytest.approx(0.02) and "no interval" in verdict.detail


def test_students_of_one_teacher_count_once_as_its_seed():
    rows = pd.DataFrame({"bias": ["b"] * 4, "seed": [0, 0, 1, 1], "trial_id": ["t0", "t0", "t1", "t1"],
                         "final_val_mse": [0.1, 0.3, 0.5, 0.7]})
    assert summaries.per_seed(rows, "final_val_mse", "b").to_dict() == pytest.approx({0: 0.2, 1: 0.6})


def test_a_rejection_renders_as_a_bound_when_no_background_jet_passes(tmp_path):
    path = write_known_store(tmp_path / "store")
    k = keys("teacher", 0)
    tpr = np.linspace(0, 1, 11)
    fpr = np.where(tpr < 0.55, 0.0, (tpr - 0.5) ** 2)  # no background passes up to ε_S = 50 %
    ResultStore(path).write("roc", [{**k, **BEST, "task": "g_vs_w", "split": "test", "fpr": f, "tpr": t, "threshold": -t}
                                    for f, t in zip(fpr, tpr)], key=k["trial_id"])
    run = select_run(path)
    md = markdown([contents.rejection_block(run)])
    # Seeds 0, 1, 2 at ε_S = 30 %: no background passes; 0.3³ · 1000 = 27; 0.3⁴ · 1000 = 8.1, fewer than 10.
    row = next(line for line in md.splitlines() if line.startswith("| g_vs_w | teacher |"))
    assert f"≥ {N_BACKGROUND}, 37.0, ~123.5 (0, 27, 8 of {N_BACKGROUND} background jets pass)" in row
    rows = summaries.rejections(run)
    assert rows.loc[(rows["trial_id"] == "teacher-s1") & (rows["task"] == "g_vs_z"), "passing"].tolist() == [27, 125]
    assert summaries.rejection_text(pd.DataFrame({"rejection": [50.0, 60.0], "passing": [20, 18],
                                                  "n_background": [1000, 1000]})) == \
        summaries.Spread.of([50.0, 60.0]).text(1)  # enough jets: the mean and its interval


def test_the_roc_figure_marks_where_fewer_than_ten_background_jets_pass(known):
    run = select_run(known)
    assert figures.statistics_limit(run, "g_vs_w") == N_BACKGROUND / 10
    ax = figures.roc_curves(run).axes[0]
    levels = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"]
    assert levels == [N_BACKGROUND / 10]
    assert "shaded where fewer than 10 background jets pass" in figures.caption_for("roc", run)


def test_the_generator_settings_render_as_a_table(known, tmp_path):
    path = write_known_store(tmp_path / "store")
    generator = {"jets_per_class": 40, "classes": ["g", "w"], "detector": {"tower_size": 0.0174}, "seed": 0}
    config = {"seeds": [0, 1, 2], "recipe": {"epochs": 2, "model_preset": "small"},
              "data": {"generator": generator, "path": None}}
    ResultStore(path).write("studies", [{
        "study": "known", "run_key": "r1", "config_json": json.dumps(config), "data_key": "d",
        "data_source": f"generated here (Pythia 8 + FastJet + parametric detector): {json.dumps(generator)}",
        "trial_ids": json.dumps([keys(b, s)["trial_id"] for b, s in KNOWN]),
        "student_ids": json.dumps([keys(b, s)["trial_id"] + "-d0" for b, s in KNOWN]), "keys_json": "{}",
        "jets_json": json.dumps({"train": 300, "val": 100, "test_by_class": {"g": 50, "w": 50}}),
        "finished_at": 1.0}], key="r1")
    md = markdown(contents.settings_blocks(select_run(path)))
    assert "| detector.tower_size | 0.0174 |" in md and "| classes | g, w |" in md
    assert "{" not in md and "Jets: generated here (Pythia 8 + FastJet + parametric detector)" in md
    assert "| training jets | 200,000 | 300 |" in md and "| test jets (all classes) | 104,704 | 100 |" in md
    assert "Teacher network: Δη against the jet's rapidity, dropout 0 in training (the SEAL reference code uses" in md


def test_the_settings_say_when_the_teacher_has_the_reference_codes_choices(tmp_path):
    path = write_known_store(tmp_path / "store")
    config = {"seeds": [0], "recipe": {"epochs": 2, "model_preset": "small"},
              "model_options": {"teacher": {"jet_axis": "pseudorapidity", "dropout": 0.1}}}
    ResultStore(path).write("studies", [{
        "study": "known", "run_key": "r1", "config_json": json.dumps(config), "data_key": "d", "data_source": "x",
        "trial_ids": json.dumps([keys(b, s)["trial_id"] for b, s in KNOWN]), "student_ids": "[]",
        "keys_json": "{}", "jets_json": "{}", "finished_at": 1.0}], key="r1")
    md = markdown(contents.settings_blocks(select_run(path)))
    assert "Teacher network: Δη against the jet's pseudorapidity, dropout 0.1 in training (the SEAL reference code's choices" in md


def test_a_missing_table_skips_only_its_figure_with_a_line_naming_it(tmp_path):
    path = write_known_store(tmp_path / "store", skip=("goldstone",))
    written = write_report(select_run(path), tmp_path / "report")
    assert written.skipped == ["goldstone: skipped, no goldstone table for study known"]
    names = sorted(p.name for p in (tmp_path / "report" / "figures").iterdir())
    assert "goldstone.png" not in names and "roc.png" in names and "curvature.pdf" in names
    verdict = [v for v in verdicts(select_run(path)) if "Goldstone" in v.finding][0]
    assert verdict.outcome == "not measured" and "no goldstone table" in verdict.detail


def test_a_missing_or_empty_store_is_an_error_naming_the_path(tmp_path):
    with pytest.raises(DataError, match=r"result store .*nowhere does not exist"):
        write_report(select_run(tmp_path / "nowhere"), tmp_path / "out")
    ResultStore(tmp_path / "empty").create()
    with pytest.raises(DataError, match=r"result store .*empty holds no study"):
        write_figures(select_run(tmp_path / "empty"), tmp_path / "out")


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.references, self.images = [], 0

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data") and value is not None:
                self.references.append(value)
        self.images += tag == "img"


def test_the_html_report_parses_embeds_every_figure_and_references_nothing_outside(known, tmp_path):
    written = write_report(select_run(known), tmp_path)
    page = (tmp_path / "report.html").read_text()
    tags = _Tags()
    tags.feed(page)
    assert tags.images == len(written.figures) == 7
    assert all(ref.startswith("data:image/png;base64,") for ref in tags.references)
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page and "@import" not in page


def test_a_lambda_scan_gets_its_panel_with_lambda_on_a_log_axis(tmp_path):
    path = write_known_store(tmp_path / "store")
    store = ResultStore(path)
    for lam, seed in ((0.03, 0), (0.3, 0)):
        k = {**keys("teacher-seal-0.1", seed), "trial_id": f"seal-{lam}", "lam": lam, "bias": f"teacher-seal-{lam}"}
        store.write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3, "epochs": 2,
                                "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}], key=k["trial_id"])
        store.write("evaluations", [{**k, **BEST, "task": "g_vs_w", "split": "test", "accuracy": 0.8, "roc_auc": 0.9 + lam,
                                     "n_jets": 100}], key=k["trial_id"])
    run = select_run(path)
    assert figures.scanned_penalties(run) == ["seal"]
    fig = figures.lambda_scan(run)
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_xlabel() == "penalty weight λ"
    xs = sorted(x for line in fig.axes[0].lines for x in line.get_xdata() if len(line.get_xdata()) == 3)
    assert xs == pytest.approx([0.03, 0.1, 0.3])


def test_frames_for_the_known_store_have_every_bias(known):
    assert set(pd.unique(select_run(known).table("evaluations")["bias"])) == set(BIASES)


def test_a_full_disk_is_one_error_and_leaves_no_partial_figure(small_disk, tmp_path, capsys):
    """Writing the figures until the disk is full: one error line, and every file there is whole (a figure
    used to be left as a 0-byte PNG)."""
    from raysym.cli import main

    write_known_store(tmp_path / "store")
    out = small_disk(150_000) / "report"
    assert main(["report", str(tmp_path / "store"), "--out", str(out)]) == 2
    assert "error: no space left on the disk" in capsys.readouterr().err
    written = [path for path in out.rglob("*") if path.is_file()]
    assert written and all(path.stat().st_size > 0 and not path.name.startswith(".") for path in written)
    assert not (out / "report.html").exists()


def test_a_sequential_studys_looks_are_read_at_their_alpha_drawn_and_tabled(tmp_path):
    """A run that was a look of a sequential study (raysym.study.sequential): its verdicts use the look's
    share of α, and the report shows every look's outcomes and their intervals against the seeds."""
    path = write_known_store(tmp_path / "store")
    store = ResultStore(path)
    trial_ids = json.dumps([keys(b, s)["trial_id"] for b, s in KNOWN])
    for look, run_key, alpha in ((1, "r1", 0.001), (2, "r2", 0.049)):
        store.write("studies", [{"study": "known", "run_key": run_key, "config_json": "{}", "data_key": "d",
                                 "data_source": "test", "trial_ids": trial_ids, "student_ids": "[]",
                                 "keys_json": "{}", "finished_at": float(look)}], key=run_key)
        store.write("rounds", [{"study": "known", "sequence": "q", "look": look, "seeds": 2 * look + 1,
                                "alpha": alpha, "run_key": run_key, "finding": "lambda1", "scale": "ratio",
                                "outcome": "not resolved" if look == 1 else "reproduced", "estimate": 0.1,
                                "low": 0.01 * look, "high": 0.5, "paper": 0.079}], key=f"q-look{look}")
    first, last = select_run(path, run_key="r1"), select_run(path)
    assert (first.alpha, last.alpha) == (0.001, 0.049) and len(last.rounds) == 2
    curvature = next(v for v in verdicts(first) if v.key == "lambda1")
    assert curvature.level == pytest.approx(1 - 0.001 / curvature.family)
    written = write_report(last, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Seeds added until decided" in md and "| 2 | 5 | 0.049 | reproduced |" in md
    assert "figures/looks.png" in [path for path, _ in written.figures]


def test_an_interval_read_at_a_tiny_alpha_spans_to_infinity_instead_of_failing(known):
    """An early look of a sequential study reads its intervals at α ~ 1e-4 or less; with few seeds the ratio
    interval's upper end then passes the float range."""
    curvature = next(v for v in verdicts(select_run(known), alpha=1e-14) if v.key == "lambda1")
    assert curvature.high == math.inf and 0 <= curvature.low < curvature.estimate
    assert curvature.outcome != "not measured"
