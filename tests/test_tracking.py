"""Experiment tracking (``--track``): a smoke study's trials and students read back from MLflow and W&B
through each tool's own reader, their numbers equal to the store's; a rerun makes no new runs; tracking
is in no key; bad ``--track`` texts, a missing package and W&B online without a key are one ConfigError.

Nothing here talks to a network: MLflow writes a file store in the test's folder, W&B runs offline
(``WANDB_MODE=offline``) into it, and the W&B runs are read from its offline files
(:mod:`tests.wandb_records`).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raysym.errors import ConfigError
from raysym.settings_key import canonical, record_text
from raysym.store import ResultStore
from raysym.study.config import StudyConfig
from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke
from raysym.tracking import Tracking, parse_all, wandb_run_id
from raysym.tracking.final import STUDENTS, TEACHERS

REPO = Path(__file__).resolve().parents[1]


# -- the settings ---------------------------------------------------------------------------------------

def test_track_texts_parse_to_trackers_with_their_targets():
    assert parse_all(["mlflow", "wandb"]) == (Tracking("mlflow"), Tracking("wandb"))
    assert Tracking.parse("mlflow=sqlite:////tmp/x.db") == Tracking("mlflow", "sqlite:////tmp/x.db")
    assert Tracking.parse(" WandB = my-project ").text == "wandb=my-project"
    assert StudyConfig(name="s", track=("mlflow=http://localhost:5000",)).track == (
        Tracking("mlflow", "http://localhost:5000"),)


@pytest.mark.parametrize("texts, problem", [
    (["comet"], "unknown tracker 'comet'"),
    (["mlflow="], "give the tracking URI after '='"),
    (["mlflow=ftp://host/x"], "an MLflow tracking URI is sqlite:///PATH"),
    (["wandb=team/project"], "a W&B project name"),
    (["mlflow", "mlflow=file:/tmp/x"], "--track mlflow given 2 times"),
])
def test_a_bad_track_text_is_one_config_error_naming_it(texts, problem):
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")):
        StudyConfig(name="s", track=tuple(texts))


def test_the_study_script_takes_track_flags(tmp_path):
    sys.path.insert(0, str(REPO / "studies"))
    try:
        import full
    finally:
        sys.path.remove(str(REPO / "studies"))
    args = full.parse_args(["--smoke-test", "--track", "mlflow", "--track", "wandb=raysym-tests"])
    assert full.study_from_args(args).track == (Tracking("mlflow"), Tracking("wandb", "raysym-tests"))
    assert full.study_from_args(full.parse_args(["--smoke-test"])).track == ()


def test_tracking_is_in_no_key_and_not_in_the_run_record():
    plain = smoke(preset("quick"))
    tracked = plain.with_overrides(track=("mlflow", "wandb"))
    assert canonical(tracked) == canonical(plain)
    assert record_text(tracked) == record_text(plain) and "track" not in json.loads(record_text(tracked))


def test_a_missing_tracker_package_is_a_config_error_naming_it():
    # A Python without site-packages (-S; -I: nor PYTHONPATH) has neither mlflow nor wandb, and
    # raysym.tracking needs neither to load.
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from raysym.tracking import Tracking\n"
            "for text in ('mlflow', 'wandb', 'mlflow=sqlite:///x.db'):\n"
            "    try:\n"
            "        Tracking.parse(text).check()\n"
            "    except Exception as err:\n"
            "        print(type(err).__name__, err)\n")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO)], capture_output=True, text=True,
                          timeout=60)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr
    assert lines == [
        "ConfigError --track mlflow needs the package mlflow, which is not installed: pip install 'raysym[track]'",
        "ConfigError --track wandb needs the package wandb, which is not installed: pip install 'raysym[track]'",
        "ConfigError --track mlflow=sqlite:///x.db needs the packages mlflow, sqlalchemy, alembic, which are not "
        "installed: pip install 'raysym[track]'"]


def test_installed_trackers_pass_and_wandb_online_without_a_key_is_refused(tmp_path, monkeypatch):
    for name in ("WANDB_MODE", "WANDB_API_KEY", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc: no credentials from `wandb login`
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    Tracking.parse(f"mlflow=sqlite:///{tmp_path}/m.db").check()
    with pytest.raises(ConfigError, match="W&B is online but has no API key; set WANDB_API_KEY"):
        Tracking.parse("wandb").check()
    monkeypatch.setenv("WANDB_MODE", "offline")
    Tracking.parse("wandb").check()
    with pytest.raises(ConfigError, match="the folder .*missing of the SQLite file does not exist"):
        Tracking.parse(f"mlflow=sqlite:///{tmp_path}/missing/m.db").check()


def test_a_default_tracking_store_inside_a_remote_out_is_refused():
    with pytest.raises(ConfigError, match="MLflow's default store is a folder in a local --out"):
        Tracking("mlflow").check_output("s3://bucket/study")
    Tracking("mlflow", "http://localhost:5000").check_output("s3://bucket/study")
    Tracking("mlflow").check_output("/tmp/study")


def test_a_trial_started_again_by_a_new_logger_continues_its_mlflow_run(tmp_path, monkeypatch):
    """What a resumed study does: the experiment is restored with new callbacks, and its unfinished trial
    starts again; its run goes on (one run, its epochs in order), not a second run beside it."""
    from mlflow.tracking import MlflowClient
    from ray.tune.experiment import Trial

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    point = {"trial_id": "teacher-s0-0123456789", "name": "teacher-s0", "key": "0123456789", "bias": "teacher"}
    trial = Trial("train_trial", config={"trial": point, "threads": 1}, trial_id="a1b2c_00000", stub=True)
    for epoch in (1, 2):  # each epoch logged by another logger, as before and after the driver died
        logger = Tracking("mlflow").tune_callback("resumed", TEACHERS, str(tmp_path))
        logger.setup()
        logger.log_trial_start(trial)
        logger.log_trial_result(epoch, trial, {"training_iteration": epoch, "val_bce": 1.0 / epoch})
    logger.log_trial_end(trial)
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("resumed").experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["raysym.trial_id"] == point["trial_id"] and runs[0].data.tags["raysym.key"] == point["key"]
    assert [(m.step, m.value) for m in client.get_metric_history(runs[0].info.run_id, "val_bce")] == [(1, 1.0), (2, 0.5)]


# -- a tracked smoke study ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tracked(study_jets_dir, tmp_path_factory):
    """A smoke study (two teachers, two students) tracked by MLflow (its default file store) and by W&B
    (offline, into the test's folder); its outcome, output folder and W&B folder."""
    from tests.wandb_records import offline_runs

    out, wandb_dir = tmp_path_factory.mktemp("tracked"), tmp_path_factory.mktemp("wandb")
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir), "WANDB_SILENT": "true",
                            "WANDB_CONFIG_DIR": str(wandb_dir / "config"), "WANDB_CACHE_DIR": str(wandb_dir / "cache"),
                            "WANDB_DATA_DIR": str(wandb_dir / "data"), "MLFLOW_ALLOW_FILE_STORE": "true"}.items():
            env.setenv(name, value)
        env.delenv("WANDB_PROJECT", raising=False)
        config = smoke(preset("quick")).with_overrides(name="tracked", data={"path": study_jets_dir},
                                                       track=("mlflow", "wandb"))
        outcome = run_study(config, out, verbose=0, progress=False)
        yield {"config": config, "outcome": outcome, "out": out, "wandb_dir": wandb_dir,
               "wandb_runs": offline_runs(wandb_dir)}


def _mlflow(out: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=(out / "mlruns").as_uri())


def _param(run, name: str) -> str:
    """A trial's hyperparameter as Ray's logger flattened it (``trial/<name>``; ``<name>`` at the top)."""
    params = run.data.params
    return params[f"trial/{name}"] if f"trial/{name}" in params else params[name]


def _expected_final(store: ResultStore, trial_id: str) -> dict[str, float]:
    """The final numbers a teacher's run must hold, read from the store's own tables."""
    evaluations = store.load("evaluations").query("trial_id == @trial_id")
    expected = {f"test/{row.task}/{metric}": getattr(row, metric) for row in evaluations.itertuples()
                for metric in ("accuracy", "roc_auc")}
    top = store.load("hessian").query("trial_id == @trial_id and k == 1").iloc[0]
    expected.update({"hessian/lambda1": top["eigenvalue"], "hessian/trace": top["trace"]})
    return expected


def _expected_student(store: ResultStore, student_id: str) -> dict[str, float]:
    row = store.load("students").query("student_id == @student_id").iloc[0]
    return {"distillation/best_val_mse": row["best_val_mse"], "test/g_vs_t/roc_auc": row["roc_auc_g_vs_t"],
            "test/g_vs_w/accuracy": row["accuracy_g_vs_w"]}


@pytest.mark.slow  # a whole tracked study and its rerun: CI's slow part
def test_mlflow_holds_one_run_per_trial_and_student_with_params_epochs_and_final_numbers(tracked):
    outcome, config = tracked["outcome"], tracked["config"]
    store, client = ResultStore(outcome.store_path), _mlflow(tracked["out"])
    assert outcome.tracked["mlflow"] == 4 and not outcome.errors
    experiment = client.get_experiment_by_name(config.name)
    runs = client.search_runs([experiment.experiment_id])
    by_trial = {run.data.tags["raysym.trial_id"]: run for run in runs}
    assert len(runs) == len(by_trial) == 4
    assert set(by_trial) == set(outcome.trial_ids) | set(outcome.student_ids)
    trials, epochs = store.load("trials").set_index("trial_id"), store.load("epochs")
    for trial_id in outcome.trial_ids:
        run = by_trial[trial_id]
        stored = trials.loc[trial_id]
        assert run.info.status == "FINISHED" and run.data.tags["raysym.stage"] == TEACHERS
        assert run.data.tags["raysym.key"] == trial_id.rsplit("-", 1)[1]
        assert run.info.run_name == trial_id.rsplit("-", 1)[0]
        assert (_param(run, "bias"), float(_param(run, "lam")), int(_param(run, "seed"))) == (
            stored["bias"], stored["lam"], stored["seed"])
        assert (float(_param(run, "lr")), int(_param(run, "epochs"))) == (stored["lr"], config.recipe.epochs)
        history = client.get_metric_history(run.info.run_id, "val_bce")
        per_epoch = epochs.query("trial_id == @trial_id").sort_values("epoch")
        assert [m.step for m in history] == list(range(1, config.recipe.epochs + 1))
        assert [m.value for m in history] == pytest.approx(per_epoch["val_bce"].tolist(), rel=1e-12)
        final = _expected_final(store, trial_id)
        assert {name: run.data.metrics[name] for name in final} == pytest.approx(final, rel=1e-12)
        assert {"goldstone/nu1/loss_rise", "smearing/roc_auc_drop", "symmetry/boost/violation"} <= set(
            run.data.metrics)
    for student_id in outcome.student_ids:
        run = by_trial[student_id]
        assert run.data.tags["raysym.stage"] == STUDENTS and run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "val_mse")) == config.distillation.recipe.epochs
        final = _expected_student(store, student_id)
        assert {name: run.data.metrics[name] for name in final} == pytest.approx(final, rel=1e-12)


@pytest.mark.slow  # a whole tracked study and its rerun: CI's slow part
def test_wandb_offline_holds_each_trial_and_student_under_one_id_with_config_history_and_summary(tracked):
    outcome, config, runs = tracked["outcome"], tracked["config"], tracked["wandb_runs"]
    store = ResultStore(outcome.store_path)
    assert outcome.tracked["wandb"] == 4
    ids = {wandb_run_id(config.name, i): i for i in [*outcome.trial_ids, *outcome.student_ids]}
    assert set(runs) == set(ids)
    epochs = store.load("epochs")
    for run_id, files in runs.items():
        stored_id = ids[run_id]
        tuned, final = files  # Tune's run, then the final numbers logged into the same id
        assert tuned.project == final.project == config.name
        if stored_id in outcome.trial_ids:
            name, key = stored_id.rsplit("-", 1)
            assert (tuned.name, tuned.job_type, tuned.tags) == (name, TEACHERS, (TEACHERS, key))
            stored = store.load("trials").query("trial_id == @stored_id").iloc[0]
            assert (tuned.config["trial"]["bias"], tuned.config["trial"]["lam"]) == (stored["bias"], stored["lam"])
            assert tuned.config["trial"]["epochs"] == config.recipe.epochs
            per_epoch = epochs.query("trial_id == @stored_id").sort_values("epoch")["val_bce"].tolist()
            assert [h["training_iteration"] for h in tuned.history] == list(range(1, config.recipe.epochs + 1))
            assert [h["val_bce"] for h in tuned.history] == pytest.approx(per_epoch, rel=1e-12)
            expected = _expected_final(store, stored_id)
        else:
            assert tuned.job_type == STUDENTS
            assert [h["training_iteration"] for h in tuned.history] == list(
                range(1, config.distillation.recipe.epochs + 1))
            expected = _expected_student(store, stored_id)
        assert {name: final.summary[name] for name in expected} == pytest.approx(expected, rel=1e-12)


@pytest.mark.slow  # a whole tracked study and its rerun: CI's slow part
def test_a_rerun_with_or_without_tracking_has_the_same_run_key_trains_nothing_and_adds_no_run(tracked):
    from tests.wandb_records import offline_runs

    config, first, out = tracked["config"], tracked["outcome"], tracked["out"]
    client = _mlflow(out)
    experiment = client.get_experiment_by_name(config.name).experiment_id
    before = {run.info.run_id: run.data.metrics for run in client.search_runs([experiment])}
    untracked = run_study(config.with_overrides(track=()), out, verbose=0, progress=False)
    again = run_study(config, out, verbose=0, progress=False)
    assert untracked.run_key == again.run_key == first.run_key
    assert (untracked.trained, again.trained, again.distilled, again.evaluated) == (0, 0, 0, 0)
    assert untracked.tracked == {} and again.tracked == {"mlflow": 0}  # nothing new: nothing logged again
    after = {run.info.run_id: run.data.metrics for run in client.search_runs([experiment])}
    assert after == before
    run_id = next(iter(before))
    assert len(client.get_metric_history(run_id, "test/g_vs_w/roc_auc")) == 1
    assert {k: len(v) for k, v in offline_runs(tracked["wandb_dir"]).items()} == {
        k: len(v) for k, v in tracked["wandb_runs"].items()}
    assert len(ResultStore(first.store_path).load("studies")) == 1
