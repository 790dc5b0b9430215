"""Figures and report from a store alone (raysym.report): the plotted data are the stored values, the
report's tables hold them, verdicts follow the stated rule, missing tables skip only their figures, and
the HTML stands alone."""

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from raysym.errors import DataError
from raysym.report import figures, summaries
from raysym.report.command import write_figures, write_report
from raysym.report.selection import select_run
from raysym.report.verdicts import NOT_RESOLVED, OPPOSITE, REPRODUCED, verdicts
from raysym.store import ResultStore

BIASES = {"teacher": ("none", 0.0), "teacher-seal-0.1": ("seal", 0.1)}
#: Known values per (bias, seed): g vs W ROC-AUC and accuracy, λ1, Tr(H), AUC at σ = 0.5, distillation MSE.
KNOWN = {
    ("teacher", 0): dict(auc=0.90, acc=0.80, lambda1=20.0, trace=40.0, smeared=0.70, mse=0.10),
    ("teacher", 1): dict(auc=0.92, acc=0.82, lambda1=22.0, trace=44.0, smeared=0.74, mse=0.12),
    ("teacher", 2): dict(auc=0.91, acc=0.81, lambda1=21.0, trace=42.0, smeared=0.72, mse=0.11),
    ("teacher-seal-0.1", 0): dict(auc=0.905, acc=0.80, lambda1=2.0, trace=30.0, smeared=0.60, mse=0.30),
    ("teacher-seal-0.1", 1): dict(auc=0.915, acc=0.81, lambda1=2.2, trace=60.0, smeared=0.62, mse=0.32),
    ("teacher-seal-0.1", 2): dict(auc=0.910, acc=0.82, lambda1=2.1, trace=45.0, smeared=0.61, mse=0.31),
}


def keys(bias, seed):
    penalty, lam = BIASES[bias]
    return {"study": "known", "trial_id": f"{bias}-s{seed}", "model": "teacher", "penalty": penalty, "lam": lam,
            "seed": seed, "bias": bias}


def write_known_store(path, skip=()):
    store = ResultStore(path).create()
    for (bias, seed), v in KNOWN.items():
        k, tid = keys(bias, seed), keys(bias, seed)["trial_id"]

        def write(table, rows, tid=tid):
            store.write(table, rows, key=tid)

        if "trials" not in skip:
            write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3 + seed / 10,
                              "epochs": 2, "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}])
        write("epochs", [{**k, "epoch": e, "train_bce": 0.5, "train_penalty": 0.0, "train_loss": 0.5,
                          "val_loss": 0.6 - e / 10 - seed / 100, "val_bce": 0.5, "val_penalty": 0.0,
                          "val_accuracy": 0.8, "val_roc_auc": 0.8 + e / 100, "epoch_seconds": 1.0,
                          "jets_per_second": 1.0} for e in (1, 2)])
        write("evaluations", [{**k, "task": task, "split": "test", "accuracy": v["acc"] - shift,
                               "roc_auc": v["auc"] - shift, "n_jets": 100}
                              for task, shift in (("g_vs_w", 0.0), ("g_vs_z", 0.05), ("g_vs_t", 0.3))])
        tpr = np.linspace(0, 1, 11)
        fpr = tpr ** (2 + seed)  # a steeper curve per seed
        write("roc", [{**k, "task": task, "split": "test", "fpr": f, "tpr": t, "threshold": -t}
                      for task in ("g_vs_w", "g_vs_z", "g_vs_t") for f, t in zip(fpr, tpr)])
        write("hessian", [{**k, "k": 1, "eigenvalue": v["lambda1"], "trace": v["trace"], "trace_stderr": 1.5,
                           "n_hvp": 40, "seconds": 1.0, "backend": "lanczos", "eval_set_size": 64,
                           "nu1_path": "/nu1.pt", "settings_key": "h"}])
        grid = np.linspace(-1, v["lambda1"] + 1, 20)
        write("spectrum", [{**k, "eigenvalue": t, "density": float(np.exp(-t * t)) + 1e-3, "settings_key": "s"}
                           for t in grid])
        if "goldstone" not in skip:
            write("goldstone", [{**k, "direction": d, "epsilon": e, "loss": 0.3 + (v["lambda1"] / 100 if d == "nu1"
                                                                              else 0.001) * e * e,
                                 "r_mean": 1.0 + e / 10, "r_std": 0.1, "settings_key": "g"}
                                for d in ("nu1", "random") for e in (-0.2, -0.1, 0.0, 0.1, 0.2)])
        write("smearing", [{**k, "sigma": s, "task": "g_vs_w", "roc_auc": a, "accuracy": 0.8, "settings_key": "m"}
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


def test_report_tables_hold_the_stored_numbers_and_the_paper_beside_them(known, tmp_path):
    written = write_report(select_run(known), tmp_path)
    md = (tmp_path / "report.md").read_text()
    accuracy = summaries.Spread.of([0.80, 0.82, 0.81]).text(4)
    assert f"| g_vs_w | teacher | 3 | {accuracy} | 0.9100 ± 0.0100 | 0.9424 ± 0.0024 | 0.9875 ± 0.0005 |" in md
    assert "| g_vs_t | teacher-seal-0.1 | 3 |" in md and "0.5323 ± 0.0124" in md  # Table 3 with the paper
    ratio = np.mean([2.0, 2.2, 2.1]) / np.mean([20.0, 22.0, 21.0])
    assert re.search(rf"\| λ1 \| {ratio:.3f} ± 0\.\d+ \| 0\.079 \|", md)
    assert "1/ε_B at ε_S = 30%" in md and "Table 1" in md and "Table 2" in md and "Table 3" in md
    assert len(written.figures) == 6 and not written.skipped


def test_verdicts_follow_the_rule_from_the_numbers(known):
    found = {v.finding: v for v in verdicts(select_run(known))}
    assert found["Parity in distribution: SEAL costs no g vs W ROC-AUC (Table 1)"].outcome == REPRODUCED  # +0.0017
    assert found["Lower curvature: λ1 smaller with SEAL (Table 2)"].outcome == REPRODUCED  # 21 vs 2.1, sd 1
    trace = found["Lower curvature: Tr(H) smaller with SEAL (Table 2)"]
    assert trace.outcome == NOT_RESOLVED and "seeds per bias would resolve" in trace.detail  # 42 vs 45 ± 15
    assert found["Robustness: SEAL loses less ROC-AUC under pT smearing (Fig. 7)"].outcome == OPPOSITE
    assert found["Compressibility: the SEAL teacher distils to a lower MSE (Fig. 9)"].outcome == OPPOSITE


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
    assert tags.images == len(written.figures) == 6
    assert all(ref.startswith("data:image/png;base64,") for ref in tags.references)
    assert "http" not in page.replace("http-equiv", "") and "<link" not in page and "@import" not in page


def test_a_lambda_scan_gets_its_panel_with_lambda_on_a_log_axis(tmp_path):
    path = write_known_store(tmp_path / "store")
    store = ResultStore(path)
    for lam, seed in ((0.03, 0), (0.3, 0)):
        k = {**keys("teacher-seal-0.1", seed), "trial_id": f"seal-{lam}", "lam": lam, "bias": f"teacher-seal-{lam}"}
        store.write("trials", [{**k, "n_parameters": 10, "best_epoch": 2, "best_val_loss": 0.3, "epochs": 2,
                                "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}], key=k["trial_id"])
        store.write("evaluations", [{**k, "task": "g_vs_w", "split": "test", "accuracy": 0.8, "roc_auc": 0.9 + lam,
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
