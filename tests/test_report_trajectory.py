"""The report over the training trajectory (raysym.report): a run's tables keep the best model's rows and its
trajectories every analysed epoch, rows written before epochs were recorded count as the best model's, the
trajectory figures draw the stored numbers and stay out when their data is missing, Spearman's ρ is right,
the report gains its trajectory section only when some trial was analysed at several epochs, captions name only
the panels drawn, and the mechanism (the symmetry violation) is the first finding."""

import itertools
import json
import math

import numpy as np
import pytest
from scipy import stats
from scipy.stats import spearmanr
from test_report import write_known_store

from raysym.report import contents, figures, summaries, trajectory_figures
from raysym.report.command import write_figures
from raysym.report.document import markdown
from raysym.report.selection import select_run
from raysym.report.verdicts import verdicts
from raysym.errors import DataError
from raysym.store import ResultStore
from raysym.study.migration import migrate

BIASES = {"teacher": ("teacher", "none", 0.0), "teacher-seal-0.1": ("teacher", "seal", 0.1),
          "dual": ("dual", "none", 0.0)}
KEPT = (2, 4, 6, 8)
BEST_EPOCH = {0: 6, 1: 8}
#: A trial analysed at its best epoch only (best epoch 4), beside trials analysed along their trajectory.
OLD_TRIAL, OLD_BEST = ("teacher", 2), 4
BOOST_BINS, ROTATION_BINS = np.linspace(0, 1, 5), np.linspace(0, math.pi, 4)
KEYS = {"hessian": "h", "evaluation": "e", "smearing": "m", "symmetry": "sym"}


def lambda1(bias, seed, epoch):
    return {"teacher": 20.0, "teacher-seal-0.1": 2.0, "dual": 5.0}[bias] * (1 + epoch / 10) + 0.5 * seed


def auc(bias, seed, epoch):
    """g vs W ROC-AUC, falling as λ1 rises (Spearman ρ = −1 over every point)."""
    return 0.99 - 0.002 * lambda1(bias, seed, epoch)


def violation(bias, seed, epoch, centre):
    return {"teacher": 0.2, "teacher-seal-0.1": 0.05, "dual": 0.1}[bias] * centre * (1 + epoch / 10) * (1 + seed / 10)


def keys(bias, seed):
    model, penalty, lam = BIASES[bias]
    return {"study": "traj", "trial_id": f"{bias}-s{seed}", "model": model, "penalty": penalty, "lam": lam,
            "seed": seed, "bias": bias}


def symmetry_rows(k, bias, seed, epoch, settings="sym"):
    rows = []
    for transform, edges, scale in (("boost", BOOST_BINS, 1.0), ("rotation", ROTATION_BINS, 0.1)):
        for low, high in itertools.pairwise(edges):
            mean = scale * violation(bias, seed, epoch, (low + high) / 2)
            rows.append({"transform": transform, "bin_low": low, "bin_high": high, "mean": mean, "p90": 2 * mean,
                         "fraction": math.nan, "n_jets": 100, "n_transforms": 400})
    if k["model"] == "dual":
        rows += [{"transform": "factor", "bin_low": low, "bin_high": low + 0.5, "mean": 0.6, "p90": 0.9,
                  "fraction": share, "n_jets": 100, "n_transforms": 0} for low, share in ((0.0, 0.3), (0.5, 0.7))]
    return [{**k, **row, "settings_key": settings, "epoch": epoch, "best": epoch == BEST_EPOCH.get(seed)}
            for row in rows]


def analysed_rows(k, bias, seed, epoch, dated=True):
    """Rows of hessian, evaluations and smearing for one trial's weights at ``epoch``; without ``epoch``
    and ``best`` columns when not ``dated`` (the older version)."""
    stamp = {"epoch": epoch, "best": epoch == BEST_EPOCH.get(seed)} if dated else {}
    lam1 = lambda1(bias, seed, epoch)
    return {
        "hessian": [{**k, **stamp, "k": i, "eigenvalue": lam1 / i, "trace": 2 * lam1 + 10, "trace_stderr": 0.5,
                     "n_hvp": 40, "seconds": 1.0, "backend": "lanczos", "eval_set_size": 64, "nu1_path": "/nu1.pt",
                     "settings_key": "h"} for i in (1, 2)],
        "evaluations": [{**k, **stamp, "task": task, "split": "test", "accuracy": 0.8, "roc_auc": value,
                         "n_jets": 100, "settings_key": "e"}
                        for task, value in (("g_vs_w", auc(bias, seed, epoch)),
                                            ("g_vs_z", 0.5 + 0.01 * lam1))],  # OOD rises with λ1: not in ρ
        "smearing": [{**k, **stamp, "sigma": s, "task": "g_vs_w", "roc_auc": auc(bias, seed, epoch) - s / 10,
                      "accuracy": 0.8, "settings_key": "m"} for s in (0.0, 0.5)],
    }


def trial_row(k, best_epoch):
    return {**k, "n_parameters": 10, "best_epoch": best_epoch, "best_val_loss": 0.3, "epochs": 8,
            "model_path": "/m.pt", "model_preset": "small", "task": "g_vs_w"}


def write_trajectory_store(path, kept=KEPT, biases=tuple(BIASES), symmetry=True, studies=True):
    """Two seeds per bias analysed at every ``kept`` epoch (None: only at the best epoch), plus (with several
    epochs) one teacher trial analysed at its best epoch only; symmetry rows of a second settings key that the run must
    leave out."""
    store = ResultStore(path).create()
    trial_ids = []
    for bias in biases:
        for seed in (0, 1):
            k = keys(bias, seed)
            tid = k["trial_id"]
            trial_ids.append(tid)
            store.write("trials", [trial_row(k, BEST_EPOCH[seed])], tid)
            store.write("epochs", [{**k, "epoch": e, "train_bce": 0.5, "train_penalty": 0.0, "train_loss": 0.5,
                                    "val_loss": 0.6, "val_bce": 0.5, "val_penalty": 0.0, "val_accuracy": 0.8,
                                    "val_roc_auc": 0.8, "epoch_seconds": 1.0, "jets_per_second": 1.0}
                                   for e in range(1, 9)], tid)
            for epoch in kept or (BEST_EPOCH[seed],):
                for table, rows in analysed_rows(k, bias, seed, epoch).items():
                    store.write(table, rows, f"{tid}-e{epoch}")
                if symmetry:
                    store.write("symmetry", symmetry_rows(k, bias, seed, epoch), f"{tid}-e{epoch}")
                    store.write("symmetry", symmetry_rows(k, bias, seed, epoch, settings="other"),
                                f"{tid}-e{epoch}-other")
    if kept:
        bias, seed = OLD_TRIAL
        k = keys(bias, seed)
        trial_ids.append(k["trial_id"])
        store.write("trials", [trial_row(k, OLD_BEST)], k["trial_id"])
        for table, rows in analysed_rows(k, bias, seed, OLD_BEST, dated=False).items():
            store.write(table, [{**row, "epoch": OLD_BEST, "best": True} for row in rows], k["trial_id"])
    if studies:
        store.write("studies", [{"study": "traj", "run_key": "r1", "config_json": "{}", "data_source": "synthetic",
                                 "data_key": "d", "trial_ids": json.dumps(trial_ids), "student_ids": "[]",
                                 "keys_json": json.dumps(KEYS), "finished_at": 1.0}], key="r1")
    return path


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory):
    return select_run(write_trajectory_store(tmp_path_factory.mktemp("trajectory") / "store"))


@pytest.fixture(scope="module")
def best_only(tmp_path_factory):
    """A run of the new version that kept only the best epoch, without the dual model."""
    return select_run(write_trajectory_store(tmp_path_factory.mktemp("best") / "store", kept=None,
                                             biases=("teacher", "teacher-seal-0.1"), studies=False))


def new_trials():
    return [(bias, seed) for bias in BIASES for seed in (0, 1)]


def test_tables_hold_the_best_model_and_trajectories_every_analysed_epoch(trajectory):
    best_epochs = trajectory.table("trials").set_index("trial_id")["best_epoch"]
    hessian = trajectory.table("hessian")
    assert len(hessian) == 2 * (len(new_trials()) + 1) and hessian["best"].all()
    assert (hessian["epoch"] == hessian["trial_id"].map(best_epochs)).all()
    assert len(trajectory.table("evaluations")) == 2 * (len(new_trials()) + 1)
    rows = trajectory.trajectory("hessian")
    for bias, seed in new_trials():
        part = rows[rows["trial_id"] == f"{bias}-s{seed}"]
        assert sorted(set(part["epoch"])) == list(KEPT)
        assert set(part.loc[part["best"], "epoch"]) == {BEST_EPOCH[seed]}
    assert set(trajectory.trajectories) == {"hessian", "evaluations", "smearing", "symmetry"}
    assert trajectory.has_trajectory() and trajectory.has_trajectory("symmetry")
    assert trajectory.has_epochs("hessian", "evaluations")


def test_a_trial_analysed_at_its_best_epoch_only_sits_beside_the_trajectories(trajectory):
    for name in ("hessian", "evaluations", "smearing"):
        rows = trajectory.trajectory(name)
        old = rows[rows["trial_id"] == "teacher-s2"]
        assert len(old) == 2 and old["best"].all() and set(old["epoch"]) == {OLD_BEST}
        assert old["epoch"].dtype == np.int64
    best = trajectory.table("hessian")
    assert best.loc[(best["trial_id"] == "teacher-s0") & (best["k"] == 1), "eigenvalue"].tolist() == [
        lambda1("teacher", 0, BEST_EPOCH[0])]


def test_the_symmetry_table_is_read_with_its_settings_key_only(trajectory):
    rows = trajectory.trajectory("symmetry")
    assert set(rows["settings_key"]) == {"sym"} and trajectory.keys["symmetry"] == "sym"
    assert len(rows) == len(new_trials()) * len(KEPT) * 7 + 2 * len(KEPT) * 2  # boost 4 + rotation 3; dual factor 2
    assert set(trajectory.table("symmetry")["epoch"]) == set(BEST_EPOCH.values())


def test_a_store_written_before_epochs_is_migrated_first_and_then_has_only_best_rows(tmp_path):
    path = write_known_store(tmp_path / "store", dated=False)
    (path / "_schema.json").unlink()  # written before stores recorded their schema
    with pytest.raises(DataError, match="older raysym \\(schema 1\\); run `raysym migrate"):
        select_run(path)
    migrate(str(path), backup=False, announce=False)
    run = select_run(path)
    assert not run.has_trajectory() and "symmetry" not in run.trajectories
    assert set(run.trajectory("hessian")["epoch"]) == {2} and run.trajectory("hessian")["best"].all()
    new = {spec.name: spec.when(run) for spec in figures.FIGURES if spec.name in ("trajectory_curvature", "symmetry")}
    assert new == {"trajectory_curvature": False, "symmetry": False}


def test_trajectory_curvature_draws_the_seed_mean_per_epoch_and_a_star_per_trial(trajectory):
    fig = trajectory_figures.trajectory_curvature(trajectory)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log" and fig.axes[1].get_ylabel() == "Tr(H)"
    colour = figures.palette(trajectory)["teacher-seal-0.1"]
    [line] = [line for line in fig.axes[0].lines if line.get_linestyle() == "-" and len(line.get_xdata())
              and tuple(line.get_color()[:3]) == tuple(colour[:3])]  # seaborn adds empty lines for its legend
    assert list(line.get_xdata()) == list(KEPT)
    assert line.get_ydata() == pytest.approx([np.mean([lambda1("teacher-seal-0.1", s, e) for s in (0, 1)])
                                              for e in KEPT])
    stars = [x for line in fig.axes[0].lines if line.get_marker() == "*" for x in line.get_xdata()]
    assert sorted(stars) == sorted([BEST_EPOCH[s] for _, s in new_trials()] + [OLD_BEST])


def test_trajectory_curvature_is_drawn_only_with_several_epochs(trajectory, best_only):
    spec = {spec.name: spec for spec in figures.FIGURES}["trajectory_curvature"]
    assert spec.when(trajectory) and not spec.when(best_only)


def test_symmetry_figure_draws_violation_per_boost_bin_epoch_rotation_and_the_learned_factor(trajectory):
    assert trajectory_figures.symmetry_panels(trajectory) == ["boost", "epoch", "rotation", "factor"]
    fig = trajectory_figures.symmetry(trajectory)
    assert len(fig.axes) == 4 and "|β|" in fig.axes[0].get_xlabel() and "w_inv" in fig.axes[3].get_xlabel()
    colour = figures.palette(trajectory)["teacher"]
    ours = [line for line in fig.axes[0].lines if tuple(line.get_color()[:3]) == tuple(colour[:3])
            and len(line.get_xdata()) == 4]
    solid, dashed = ([line for line in ours if line.get_linestyle() == style] for style in ("-", "--"))
    centres = (BOOST_BINS[:-1] + BOOST_BINS[1:]) / 2
    expected = [np.mean([violation("teacher", s, BEST_EPOCH[s], c) for s in (0, 1)]) for c in centres]
    assert solid[0].get_ydata() == pytest.approx(expected)
    assert dashed[0].get_ydata() == pytest.approx(2 * np.array(expected))
    # Against epoch: the mean over all boosts (equal weights per bin here), per epoch, over seeds.
    [epoch_line] = [line for line in fig.axes[1].lines if line.get_linestyle() == "-" and len(line.get_xdata())
                    and tuple(line.get_color()[:3]) == tuple(colour[:3])]
    assert epoch_line.get_ydata() == pytest.approx(
        [np.mean([violation("teacher", s, e, c) for s in (0, 1) for c in centres]) for e in KEPT])


def test_symmetry_figure_leaves_out_panels_without_rows(best_only):
    assert trajectory_figures.symmetry_panels(best_only) == ["boost", "rotation"]
    assert len(trajectory_figures.symmetry(best_only).axes) == 2


def test_the_symmetry_caption_names_only_the_panels_drawn(trajectory, best_only):
    """A best-only study draws neither the epoch panel nor the dual model's factor, and its caption says so."""
    full = figures.caption_for("symmetry", trajectory)
    assert "epoch" in full and "w_inv" in full and "|β|" in full and "rotation" in full
    best = figures.caption_for("symmetry", best_only)
    assert "epoch" not in best and "w_inv" not in best and "best model" in best
    md = markdown(contents.report_blocks(best_only, [("figures/symmetry.png", "generic")], []))
    assert f"*{best}*" in md and "generic" not in md


def test_the_mechanism_is_the_first_finding_read_from_the_boost_violation(best_only):
    """SEAL's violation is a quarter of the teacher's for both seeds, paired by seed."""
    [first, *_] = found = verdicts(best_only)
    assert first.key == "symmetry" and first.paired and (first.n_a, first.n_b) == (2, 2)
    centres = (BOOST_BINS[:-1] + BOOST_BINS[1:]) / 2
    a, b = ([np.mean([violation(bias, s, BEST_EPOCH[s], c) for c in centres]) for s in (0, 1)]
            for bias in ("teacher", "teacher-seal-0.1"))
    assert first.estimate == pytest.approx(np.mean(b) - np.mean(a))
    assert (first.low, first.high) == pytest.approx(stats.ttest_rel(b, a).confidence_interval(first.level))
    assert first.level == pytest.approx(1 - 0.05 / first.family) and first.family == sum(
        v.outcome != "not measured" and not math.isnan(v.low) for v in found)
    assert "Read the mechanism first" in markdown(contents.report_blocks(best_only, [], []))


def test_figures_apply_or_are_skipped_with_a_line_when_their_rows_are_missing(tmp_path):
    path = write_trajectory_store(tmp_path / "store", kept=None, biases=("teacher",), symmetry=False)
    run = select_run(path)
    assert run.keys["symmetry"] == "sym" and not run.has("symmetry")
    written = write_figures(run, tmp_path / "out")
    assert written.skipped[-1] == "symmetry: skipped, no symmetry table for study traj"
    assert [png for png, _ in written.figures][-2:] == ["figures/curvature.png", "figures/flatness_auc.png"]


def test_the_symmetry_figure_applies_when_the_run_measured_it(trajectory, tmp_path):
    assert trajectory_figures.symmetry_measured(trajectory)
    known = select_run(write_known_store(tmp_path / "store"))  # no rows, no settings key: an older run
    assert not trajectory_figures.symmetry_measured(known)
    known.keys = {"symmetry": "sym"}
    assert trajectory_figures.symmetry_measured(known)
    known.config = {"analyses": {"symmetry": False}}  # switched off: no figure, no line saying it is missing
    assert not trajectory_figures.symmetry_measured(known)


def test_flatness_correlation_is_minus_one_when_auc_falls_as_lambda1_rises(trajectory):
    n_points = len(new_trials()) * len(KEPT) + 1
    assert summaries.flatness_correlation(trajectory) == (pytest.approx(-1.0), n_points)
    assert summaries.flatness_correlation(trajectory, "dual") == (pytest.approx(-1.0), 2 * len(KEPT))
    points = summaries.flatness_points(trajectory)
    assert set(points["task"]) == {"g_vs_w"}  # the out-of-distribution scores, rising with λ1, stay out


def test_spearman_matches_scipy_with_ties_and_is_nan_without_enough_points():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 40), rng.normal(size=40)
    y[:10] = y[0]  # ties in both
    rho, n = summaries.spearman(x, y)
    assert n == 40 and rho == pytest.approx(spearmanr(x, y).statistic)
    assert math.isnan(summaries.spearman([1, 2], [2, 1])[0])
    assert math.isnan(summaries.spearman([1, 2, 3], [5, 5, 5])[0])
    assert summaries.spearman([1, 2, np.nan, 4], [4, 3, 2, 1]) == (pytest.approx(-1.0), 3)


def test_flatness_figure_plots_every_trial_and_epoch_with_rho(trajectory, best_only):
    fig = trajectory_figures.flatness_auc(trajectory)
    [ax] = fig.axes
    assert ax.get_xscale() == "log" and ax.get_title().startswith("Spearman ρ = −1.00 (n = 25)")
    points = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(points) == len(new_trials()) * len(KEPT) + 1
    # Best-only rows: one point per trial.
    spec = {spec.name: spec for spec in figures.FIGURES}["flatness_auc"]
    assert spec.when(best_only) and len(summaries.flatness_points(best_only)) == 4


def test_lambda1_at_first_best_and_last_kept_epoch(trajectory):
    rows = summaries.lambda1_over_training(trajectory).set_index("trial_id")
    seal = rows.loc["teacher-seal-0.1-s1"]
    assert (seal["first_epoch"], seal["best_epoch"], seal["last_epoch"]) == (2, 8, 8)
    assert (seal["first"], seal["best"], seal["last"]) == pytest.approx(
        [lambda1("teacher-seal-0.1", 1, e) for e in (2, 8, 8)])
    assert rows.loc["teacher-s2", ["first", "best", "last"]].tolist() == [lambda1("teacher", 2, OLD_BEST)] * 3


def test_the_report_has_its_trajectory_section_only_with_trajectories(trajectory, best_only, tmp_path):
    md = markdown(contents.report_blocks(trajectory, [], []))
    assert "## Over the training trajectory" in md
    first = summaries.Spread.of([lambda1("dual", s, 2) for s in (0, 1)]).text(3)
    best = summaries.Spread.of([lambda1("dual", s, BEST_EPOCH[s]) for s in (0, 1)]).text(3)
    assert f"| dual | 2 | 2–8 (4 epochs) | 6, 8 | {first} | {best} |" in md
    assert "ρ = −1.00 (n = 25); per bias: dual ρ = −1.00 (n = 8, fewer than 10 points)" in md
    assert "Over the training trajectory" not in markdown(contents.report_blocks(best_only, [], []))
    known = select_run(write_known_store(tmp_path / "store"))
    assert "Over the training trajectory" not in markdown(contents.report_blocks(known, [], []))
