"""Analysis stage: Hessian, Goldstone and smearing rows per model; worker-count independence; reruns."""

import dataclasses
import types

import numpy as np
import pytest
import torch

from raysym.hessian import hutchinson_trace, lanczos_top_eigenpairs
from raysym.stages.analyses import AnalysisSettings, run_analysis_stage
from raysym.stages.analysis_hessian import hessian_closure, next_probe_round
from raysym.stages.analysis_registry import analysis, analysis_key
from raysym.stages.analysis_spec import Inputs
from raysym.store import ResultStore
from raysym.training.checkpoint import load_best_model
from tests.synthetic import trained_study

SETTINGS = AnalysisSettings(hessian_jets=64, hessian_batch_size=24, lanczos_steps=8, eigen_restarts=2,
                            trace_method="hutchinson", trace_probes=6, probes_per_task=2, goldstone_points=5,
                            goldstone_jets=32, smearing_sigmas=(0.0, 0.1, 0.3))
NUMBERS = {"hessian": ["trial_id", "k", "eigenvalue", "trace", "trace_stderr", "n_hvp"],
           "spectrum": ["trial_id", "eigenvalue", "density"],
           "goldstone": ["trial_id", "direction", "epsilon", "loss", "r_mean", "r_std"],
           "smearing": ["trial_id", "sigma", "roc_auc", "accuracy"]}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return trained_study(tmp_path_factory.mktemp("analyses"), n_models=2)


def run(study, path, settings=SETTINGS, **kwargs):
    store = ResultStore(path)
    counts = run_analysis_stage(store, study["trials"], study["train"], study["test"], settings, progress=False,
                                **kwargs)
    return store, counts


def table(store, name):
    return store.load(name)[NUMBERS[name]].sort_values(NUMBERS[name][:3]).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial(study, tmp_path_factory):
    return run(study, tmp_path_factory.mktemp("serial-store"), use_ray=False)


def test_every_model_gets_hessian_goldstone_smearing_and_symmetry_rows(serial, study):
    store, counts = serial
    assert counts == {"hessian": 2, "smearing": 2, "goldstone": 2, "spectrum": 2, "symmetry": 2}
    hessian = store.load("hessian")
    assert len(hessian) == 2 and (hessian["eval_set_size"] == 64).all() and (hessian["n_probes"] == 6).all()
    assert (hessian["eigen_hvp"] == 2 * 8).all() and (hessian["trace_hvp"] == 6).all()
    assert len(store.load("goldstone")) == 2 * 2 * 5 and len(store.load("smearing")) == 2 * 3
    symmetry = store.load("symmetry")  # 5 bins of β and 4 of the rotation angle per model
    assert len(symmetry) == 2 * 9 and set(symmetry["transform"]) == {"boost", "rotation"}
    assert (symmetry["mean"] > 1e-4).all() and (symmetry["p90"] >= symmetry["mean"]).all()


def test_stage_numbers_equal_the_plain_estimators_on_the_same_closure(serial, study):
    store, _ = serial
    row = store.load("hessian").set_index("trial_id").loc["t0"]
    model, _, _ = load_best_model(study["trials"].model_path[0])
    closure = hessian_closure(model, study["train"], SETTINGS)
    lambdas = [lanczos_top_eigenpairs(closure, k=1, max_iter=8, seed=r).top for r in range(2)]
    assert row["eigenvalue"] == max(lambdas)
    assert row["trace"] == hutchinson_trace(closure, n_probes=6, seed=0).trace  # probe groups combine exactly


def test_nu1_is_saved_beside_the_model_and_referenced(serial, study):
    store, _ = serial
    row = store.load("hessian").set_index("trial_id").loc["t1"]
    nu1 = torch.load(row["nu1_path"], weights_only=True)
    model, _, _ = load_best_model(study["trials"].model_path[1])
    assert nu1.numel() == sum(p.numel() for p in model.parameters())
    assert abs(float(nu1.double().norm()) - 1) < 1e-5
    assert row["nu1_path"].startswith(str(study["dir"]))


def test_fan_out_over_two_ray_workers_gives_the_same_numbers_as_one_process(ray_local, serial, study, tmp_path):
    parallel, _ = run(study, tmp_path)
    for name in NUMBERS:
        assert table(parallel, name).equals(table(serial[0], name)), name


def test_rerun_skips_stored_analyses_and_new_settings_add_new_rows(study, tmp_path):
    store, first = run(study, tmp_path, use_ray=False)
    files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    _, again = run(study, tmp_path, use_ray=False)
    assert sum(again.values()) == 0 and {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")} == files
    more_probes = dataclasses.replace(SETTINGS, trace_probes=8)
    _, changed = run(study, tmp_path, more_probes, use_ray=False)
    assert changed == {"hessian": 2, "smearing": 0, "goldstone": 2, "spectrum": 2, "symmetry": 0}  # nor symmetry
    assert store.load("hessian")["settings_key"].nunique() == 2


def test_pyhessian_backend_agrees_with_lanczos_on_lambda1(study, tmp_path):
    settings = dataclasses.replace(SETTINGS, hessian_backend="pyhessian", lanczos_steps=200, goldstone=False,
                                   smearing=False, spectrum=False)
    pyhessian, _ = run(study, tmp_path / "py", settings, use_ray=False)
    ours, _ = run(study, tmp_path / "ours", dataclasses.replace(settings, hessian_backend="lanczos",
                                                                lanczos_steps=40), use_ray=False)
    a = pyhessian.load("hessian").set_index("trial_id")["eigenvalue"]
    b = ours.load("hessian").set_index("trial_id")["eigenvalue"]
    assert ((a - b).abs() / b.abs()).max() < 0.01


def test_hutch_plus_plus_trace_method_runs_as_one_task_per_model(serial, study, tmp_path):
    settings = dataclasses.replace(SETTINGS, trace_method="hutch++", trace_probes=9, goldstone=False, smearing=False)
    store, counts = run(study, tmp_path, settings, use_ray=False)
    plus = store.load("hessian").set_index("trial_id")
    assert counts["hessian"] == 2 and (plus["trace_method"] == "hutch++").all() and (plus["trace_hvp"] == 9).all()
    # Consistent with the Hutchinson estimate of the same Hessian (these barely trained models have
    # indefinite Hessians, so the traces may be negative).
    plain = serial[0].load("hessian").set_index("trial_id")
    assert ((plus["trace"] - plain["trace"]).abs() <= 3 * (plus["trace_stderr"] ** 2 + plain["trace_stderr"] ** 2) ** 0.5).all()


def test_the_spectrum_is_a_normalised_density_from_the_lambda1_runs_at_no_extra_hvp(serial):
    store, _ = serial
    spectrum, hessian = store.load("spectrum"), store.load("hessian").set_index("trial_id")
    for trial_id, curve in spectrum.groupby("trial_id"):
        assert len(curve) == SETTINGS.spectrum_points and (curve["density"] >= 0).all()
        assert np.trapezoid(curve["density"], curve["eigenvalue"]) == pytest.approx(1.0, abs=1e-3)
        assert curve["n_nodes"].iloc[0] == hessian.loc[trial_id, "eigen_hvp"]  # one node per Lanczos step
        assert curve["eigenvalue"].max() > hessian.loc[trial_id, "eigenvalue"]  # λ1 lies inside the grid


def test_separate_slq_probes_give_the_spectrum_as_one_task_per_probe(study, tmp_path):
    settings = dataclasses.replace(SETTINGS, spectrum_probes=3, spectrum_steps=12, goldstone=False, smearing=False)
    store, counts = run(study, tmp_path, settings, use_ray=False)
    spectrum = store.load("spectrum")
    assert counts["spectrum"] == 2 and (spectrum["n_probes"] == 3).all() and (spectrum["n_nodes"] == 36).all()
    for _, curve in spectrum.groupby("trial_id"):
        assert np.trapezoid(curve["density"], curve["eigenvalue"]) == pytest.approx(1.0, abs=1e-3)


def test_a_trace_precision_adds_probe_rounds_until_reached_or_capped(study, tmp_path):
    loose = dataclasses.replace(SETTINGS, trace_rel_stderr=0.99, goldstone=False, smearing=False, spectrum=False)
    store, _ = run(study, tmp_path / "loose", loose, use_ray=False)
    rows = store.load("hessian")
    assert (rows["trace_stop"] == "precision").all() and (rows["n_probes"] >= 6).all()
    assert (rows["trace_stderr"] <= 0.99 * rows["trace"].abs()).all()
    capped = dataclasses.replace(loose, trace_rel_stderr=1e-6, trace_max_probes=11)
    store, _ = run(study, tmp_path / "capped", capped, use_ray=False)
    rows = store.load("hessian").set_index("trial_id")
    assert (rows["trace_stop"] == "cap").all() and (rows["n_probes"] == 11).all() and (rows["trace_hvp"] == 11).all()
    model, _, _ = load_best_model(study["trials"].model_path[0])
    closure = hessian_closure(model, study["train"], capped)
    assert rows.loc["t0", "trace"] == hutchinson_trace(closure, n_probes=11, seed=0).trace  # rounds merge exactly
    assert analysis_key(dataclasses.replace(loose, trace_rel_stderr=None), "hessian") != \
        analysis_key(loose, "hessian") != analysis_key(capped, "hessian")


def test_with_a_trace_precision_the_group_size_decides_the_probes_and_so_is_in_the_key():
    """Two settings that differ only in probes_per_task gave 34 and 40 probes under one key: a rerun would
    have reused the other's Tr(H). The group size rounds each new round up, so it is part of the result."""
    estimate = types.SimpleNamespace(n_probes=32, standard_error=1.05, trace=10.0)  # needs ~36 probes for 0.1
    small, large = (dataclasses.replace(SETTINGS, trace_rel_stderr=0.1, probes_per_task=n) for n in (2, 8))
    assert sum(map(len, next_probe_round(estimate, small))) == 4 != sum(map(len, next_probe_round(estimate, large)))
    assert analysis_key(small, "hessian") != analysis_key(large, "hessian")


def test_adaptive_rounds_give_the_same_numbers_on_two_ray_workers(ray_local, study, tmp_path):
    target = dataclasses.replace(SETTINGS, trace_rel_stderr=0.2, trace_max_probes=40, goldstone=False,
                                 smearing=False, spectrum=False)
    one, _ = run(study, tmp_path / "one", target, use_ray=False)
    two, _ = run(study, tmp_path / "two", target)
    columns = NUMBERS["hessian"] + ["trace_stop"]
    assert one.load("hessian")[columns].sort_values("trial_id").reset_index(drop=True).equals(
        two.load("hessian")[columns].sort_values("trial_id").reset_index(drop=True))


def test_a_goldstone_scan_left_undone_starts_from_the_stored_nu1(serial, study, tmp_path):
    store, first = run(study, tmp_path, dataclasses.replace(SETTINGS, goldstone=False), use_ray=False)
    assert first["goldstone"] == 0
    _, counts = run(study, tmp_path, use_ray=False)
    assert counts == {"hessian": 0, "smearing": 0, "goldstone": 2, "spectrum": 0, "symmetry": 0}
    assert table(store, "goldstone").equals(table(serial[0], "goldstone"))


def test_the_default_trace_is_deflated_hutchinson_and_pyhessian_keeps_its_own():
    assert AnalysisSettings().trace_method == "deflated-hutchinson"
    assert AnalysisSettings(hessian_backend="pyhessian", spectrum_probes=1).trace_method == "hutchinson"


def test_bad_trace_precision_settings_are_config_errors():
    from raysym.errors import ConfigError

    with pytest.raises(ConfigError, match="trace_rel_stderr"):
        AnalysisSettings(trace_rel_stderr=0.0)
    with pytest.raises(ConfigError, match="trace_max_probes 8 is below"):
        AnalysisSettings(trace_probes=16, trace_max_probes=8)


@pytest.mark.parametrize("method", ["deflated-hutchinson", "xtrace"])
def test_the_variance_reduced_trace_methods_agree_with_hutchinson(serial, study, tmp_path, method):
    settings = dataclasses.replace(SETTINGS, trace_method=method, trace_probes=8, deflation_rank=4, goldstone=False,
                                   smearing=False, spectrum=False)
    store, counts = run(study, tmp_path, settings, use_ray=False)
    rows = store.load("hessian").set_index("trial_id")
    assert counts["hessian"] == 2 and (rows["trace_method"] == method).all() and (rows["trace_hvp"] == 8).all()
    plain = serial[0].load("hessian").set_index("trial_id")
    assert ((rows["trace"] - plain["trace"]).abs() <= 3 * (rows["trace_stderr"] ** 2 + plain["trace_stderr"] ** 2) ** 0.5).all()


def test_a_deflated_trace_uses_the_best_restarts_ritz_vectors_and_splits_exactly(ray_local, study, tmp_path):
    from raysym.hessian.deflation import deflation_from_lanczos

    settings = dataclasses.replace(SETTINGS, trace_method="deflated-hutchinson", deflation_rank=4, goldstone=False,
                                   smearing=False, spectrum=False)
    one, _ = run(study, tmp_path / "one", settings, use_ray=False)
    two, _ = run(study, tmp_path / "two", settings)
    assert table(one, "hessian").equals(table(two, "hessian"))
    row = one.load("hessian").set_index("trial_id").loc["t0"]
    model, _, _ = load_best_model(study["trials"].model_path[0])
    closure = hessian_closure(model, study["train"], settings)
    best = max((lanczos_top_eigenpairs(closure, k=1, max_iter=8, seed=r, keep_ritz=4) for r in range(2)),
               key=lambda result: result.top)
    deflation = deflation_from_lanczos(best)
    expected = hutchinson_trace(closure, n_probes=6, seed=0, deflation=type(deflation)(deflation.vectors.float(),
                                                                                         deflation.exact))
    assert row["trace"] == expected.trace and row["trace_stderr"] == expected.standard_error


def test_a_dual_models_symmetry_rows_add_the_distribution_of_its_learned_factor(study, tmp_path):
    from raysym.training import TrainConfig, train
    from raysym.training.checkpoint import save_best_model

    tiny = {"d_model": 16, "heads": 2, "ff": 16, "layers": 1, "head_widths": (16,)}
    invariant = {"pair_widths": (8, 8), "node_widths": (8, 8), "latent": 16, "latent_widths": (8,),
                 "head_widths": (8,)}
    config = TrainConfig(model="dual", model_preset="small", epochs=1, batch_size=32, seed=0,
                         model_options={"transformer": tiny, "invariant": invariant, "gate_widths": (4,),
                                        "head_widths": (8,)})
    path = save_best_model(train(config, {"train": study["train"], "val": study["val"]}).checkpoint,
                           tmp_path / "dual.pt")
    settings = dataclasses.replace(SETTINGS, symmetry_jets=40, symmetry_factor_bins=10)
    symmetry = analysis("symmetry")
    rows = symmetry.measure(str(path), Inputs(study["train"], study["test"], "g_vs_w", settings))
    factor = [r for r in rows if r["transform"] == "factor"]
    assert [r["transform"] for r in rows[:9]] == ["boost"] * 5 + ["rotation"] * 4 and len(factor) == 10
    assert sum(r["fraction"] for r in factor) == pytest.approx(1.0) and 0 <= factor[0]["mean"] <= 1
    teacher = symmetry.measure(study["trials"].model_path[0], Inputs(study["train"], study["test"], "g_vs_w", settings))
    assert not [r for r in teacher if r["transform"] == "factor"]
