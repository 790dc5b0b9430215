"""A study's results from Python (a notebook, a script): its runs, tidy frames, ready models and figures.

The store (:mod:`raysym.store`) keeps every run of every study side by side, told apart by settings keys;
``raysym.store.load`` gives whole tables, every run mixed. This module answers the questions a physicist
asks after ``python studies/full.py``, one run at a time::

    import raysym.results as results

    store = results.open("raysym-runs/quick/store")   # a folder or a URI (s3://BUCKET/PREFIX/store)
    store.studies()                 # one row per recorded run: study, run_key, finished_at, trials, ...
    run = store.study()             # the store's only study, its latest run (or study(name, run_key=...))
    run.summary()                   # one row per trial: bias, seed, roc_auc_<task>, lambda1, trace, ...
    run.evaluations(), run.epochs(), run.analysis("hessian"), run.scores()   # tidy frames of that run
    model = run.model(trial_id)     # the trained network, ready to score jets
    model.logits(run.test_jets())   # numpy logits (or .probabilities); a JetSet or arrays (p4, mask)
    run.figure("roc")               # a matplotlib Figure; run.figures() lists this run's

Every frame holds only the chosen run's rows: its trials, and the evaluation and analysis rows of its
settings keys (:func:`raysym.report.selection.select_run` picks them, as for the report). Rows are the best
model's unless ``all_epochs=True`` (a study that kept weights every K epochs, docs/methods.md §6.7).

Per-jet test scores (``run.scores()``) exist when the study ran with ``--keep-scores`` (evaluation setting
``keep_scores``); a rerun of the same command with it adds them for models evaluated before, training and
evaluating nothing again. With them any ROC curve or working point can be computed; ``jet`` is the jet's
position in ``run.test_jets()``.

Figures are plain ``matplotlib.figure.Figure`` objects: importing this module or drawing a figure changes
neither matplotlib's backend nor pyplot's state. In Jupyter, ``%matplotlib inline`` (the usual first cell)
makes a figure show as a cell's value; elsewhere ``fig.savefig("roc.png")``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from raysym.data.jetset import JetSet
from raysym.errors import ConfigError, DataError
from raysym.models.predict import PREDICT_BATCH_SIZE
from raysym.report import summaries
from raysym.report.selection import StudyRun, select_run
from raysym.stages.analysis_registry import registered
from raysym.store import SUFFIX, ResultStore

#: The columns of the trials table :meth:`RunResults.summary` starts from (those the table has).
_SUMMARY_TRIAL_COLUMNS = ("trial_id", "bias", "model", "penalty", "lam", "seed", "task", "best_epoch",
                          "best_val_loss", "n_parameters")
#: What the scores table says to do when a run kept none.
_KEEP_SCORES = ("rerun the study's command with --keep-scores (evaluation setting keep_scores=True): it scores "
                "the stored models again and trains nothing")


def open(path: str | os.PathLike) -> "Results":  # noqa: A001 - results.open(store), as io.open(file)
    """The result store at ``path`` (a folder or a URI); a path that is not a store is a ``DataError``."""
    return Results(path)


class Results:
    """A result store, as its recorded study runs (:meth:`studies`) and one run's results (:meth:`study`)."""

    def __init__(self, path: str | os.PathLike):
        self.store = ResultStore(path)
        self.store.require()
        self.uri = self.store.uri

    def __repr__(self) -> str:
        return f"raysym.results.open({self.uri!r})"

    def _runs(self) -> pd.DataFrame:
        return self.store.load("studies") if "studies" in self.store.tables() else pd.DataFrame()

    def _names(self, runs: pd.DataFrame) -> list[str]:
        """Every study the store holds: those with a recorded run, and those with trials only (running, or a
        store written by hand)."""
        names = set(runs["study"]) if len(runs) else set()
        if "trials" in self.store.tables():
            names |= set(self.store.load("trials")["study"])
        return sorted(names)

    def studies(self) -> pd.DataFrame:
        """One row per recorded run, oldest first: ``study``, ``run_key``, ``finished_at`` (a UTC timestamp),
        ``dataset``, ``data_source`` (where its jets came from), ``trials`` and ``students`` (how many),
        ``biases``, ``seeds``, ``epochs`` (of each teacher) and ``scores`` (whether per-jet scores were kept).
        A study with trials but no recorded run (one still running) is a row without ``run_key``."""
        runs = self._runs()
        scored = set(self.store.keys("scores")) if "scores" in self.store.tables() else set()
        rows = []
        for _, run in (runs.sort_values("finished_at") if len(runs) else runs).iterrows():
            config = json.loads(run["config_json"])
            trial_ids = json.loads(run["trial_ids"])
            evaluation = json.loads(run["keys_json"]).get("evaluation")
            dataset = json.loads(run["dataset_json"])["name"] if isinstance(run.get("dataset_json"), str) else None
            rows.append({"study": run["study"], "run_key": run["run_key"],
                         "finished_at": pd.to_datetime(run.get("finished_at"), unit="s", utc=True),
                         "dataset": dataset, "data_source": run["data_source"], "trials": len(trial_ids),
                         "students": len(json.loads(run["student_ids"])),
                         "biases": ", ".join(_bias_name(b) for b in config.get("biases", [])),
                         "seeds": len(config.get("seeds", [])), "epochs": config.get("recipe", {}).get("epochs"),
                         "scores": any(f"{t}-{evaluation}" in scored for t in trial_ids)})
        recorded = set(runs["study"]) if len(runs) else set()
        unrecorded = [name for name in self._names(runs) if name not in recorded]
        if unrecorded:
            counts = self.store.load("trials")["study"].value_counts()
            rows.extend({"study": name, "run_key": None, "trials": int(counts.get(name, 0))} for name in unrecorded)
        columns = ["study", "run_key", "finished_at", "dataset", "data_source", "trials", "students", "biases",
                   "seeds", "epochs", "scores"]
        return pd.DataFrame(rows, columns=columns)

    def study(self, name: str | None = None, run_key: str | None = None) -> "RunResults":
        """One run's results: of study ``name`` (default: the store's only study) its run ``run_key``
        (default: its latest). A store of several studies needs a name, and an unknown name or run key is a
        ``ConfigError`` naming the choices; ``run_key`` alone finds its study."""
        runs = self._runs()
        names = self._names(runs)
        if not names:
            raise DataError(f"result store {self.uri} holds no study")
        if run_key is not None:
            chosen = runs[runs["run_key"] == run_key] if len(runs) else runs
            if name is not None and len(chosen):
                chosen = chosen[chosen["study"] == name]
            if chosen.empty:
                recorded = runs if name is None or runs.empty else runs[runs["study"] == name]
                known = ", ".join(f"{s} {k}" for s, k in zip(recorded.get("study", []), recorded.get("run_key", [])))
                raise ConfigError(f"result store {self.uri} has no recorded run {run_key!r}"
                                  f"{f' of study {name!r}' if name else ''}; its runs: {known or 'none'}")
            name = str(chosen["study"].iloc[-1])
        elif name is None:
            if len(names) > 1:
                raise ConfigError(f"result store {self.uri} holds several studies ({', '.join(names)}); choose one, "
                                  f"e.g. .study({names[0]!r})")
            name = names[0]
        elif name not in names:
            raise ConfigError(f"result store {self.uri} has no study {name!r}; it has {', '.join(names)}")
        run = select_run(self.uri, name, run_key)
        record = None
        if run.run_key is not None:
            record = runs[(runs["study"] == name) & (runs["run_key"] == run.run_key)].iloc[-1]
        return RunResults(self.store, run, record)


def _bias_name(bias: dict) -> str:
    """A recorded bias as the study flag spells it: model[:penalty[:λ]]."""
    if bias.get("penalty", "none") == "none":
        return bias.get("model", "?")
    return f"{bias.get('model')}:{bias['penalty']}:{bias.get('lam')}"


class RunResults:
    """One study run's results (from :meth:`Results.study`): frames restricted to the run, its models, its
    test jets and its figures."""

    def __init__(self, store: ResultStore, run: StudyRun, record: pd.Series | None):
        self.store = store
        self._run = run
        self._record = record
        self._test_jets: JetSet | None = None

    # -- what the run is -----------------------------------------------------------------------------

    @property
    def study(self) -> str:
        return self._run.study

    @property
    def run_key(self) -> str | None:
        """The run's key in the ``studies`` table (None for a study with no recorded run)."""
        return self._run.run_key

    @property
    def config(self) -> dict[str, Any] | None:
        """The run's whole configuration as recorded (``StudyConfig`` fields; None without a record)."""
        return self._run.config

    @property
    def task(self) -> str:
        """The task the teachers were trained on (in distribution)."""
        recipe = (self.config or {}).get("recipe", {})
        return recipe.get("task") or self._run.dataset.by_role("in")[0].name

    @property
    def tasks(self) -> list[str]:
        """Every task the models were evaluated on, in the order the data set declares them."""
        evaluated = set(self._run.table("evaluations")["task"]) if self._run.has("evaluations") else set()
        return [t.name for t in self._run.dataset.tasks if t.name in evaluated] or [self.task]

    @property
    def report_run(self) -> StudyRun:
        """The rows as the report reads them (:class:`raysym.report.selection.StudyRun`)."""
        return self._run

    def __repr__(self) -> str:
        trials = self._run.table("trials") if self._run.has("trials") else pd.DataFrame()
        biases = ", ".join(sorted(trials["bias"].unique())) if len(trials) else "none"
        return (f"<study {self.study!r}, run {self.run_key}: {len(trials)} trial(s) ({biases}); "
                f"tables: {', '.join(self.tables())}>")

    def tables(self) -> list[str]:
        """The tables that hold rows of this run (the best models' rows; see :meth:`table`)."""
        return sorted(self._run.tables)

    # -- tidy frames ---------------------------------------------------------------------------------

    def table(self, name: str, all_epochs: bool = False) -> pd.DataFrame:
        """The run's rows of table ``name`` (raysym/tables.py), a copy: each trial's best model, or with
        ``all_epochs`` every analysed epoch where the table records them (evaluations, hessian, smearing,
        symmetry). A table the run has no rows in is a ``DataError`` naming those it has."""
        if all_epochs and name in self._run.trajectories:
            return self._run.trajectory(name).copy()
        if not self._run.has(name):
            raise DataError(f"run {self.run_key} of study {self.study!r} has no {name} rows; it has "
                            f"{', '.join(self.tables()) or 'none'}")
        return self._run.table(name).copy()

    def trials(self) -> pd.DataFrame:
        """One row per trial: its keys, bias, best epoch and validation loss, model file, training settings."""
        return self.table("trials")

    def epochs(self) -> pd.DataFrame:
        """The training curves: one row per trial and epoch (losses, validation accuracy and ROC-AUC, speed)."""
        return self.table("epochs")

    def evaluations(self, all_epochs: bool = False) -> pd.DataFrame:
        """Test-set performance: one row per model and task (``bias``, ``seed``, ``task``, ``accuracy``,
        ``roc_auc``, ``bce``, jet counts)."""
        return self.table("evaluations", all_epochs)

    def students(self) -> pd.DataFrame:
        """One row per distilled student: its teacher's keys, MSE against the teacher, its own test scores."""
        return self.table("students")

    def analyses(self) -> list[str]:
        """The registered analyses (raysym.stages.analysis_registry) this run has rows of."""
        return [spec.name for spec in registered() if self._run.has(spec.table)]

    def analysis(self, name: str, all_epochs: bool = False) -> pd.DataFrame:
        """The rows of analysis ``name`` (``hessian``: λk, Tr(H); ``spectrum``; ``goldstone``; ``smearing``;
        ``symmetry``; or one registered later), from its own table."""
        specs = {spec.name: spec for spec in registered()}
        if name not in specs:
            raise ConfigError(f"unknown analysis {name!r}; the registered ones: {', '.join(specs)}")
        return self.table(specs[name].table, all_epochs)

    def scores(self, task: str | None = None, all_epochs: bool = False) -> pd.DataFrame:
        """Every test jet's score per model (and task, or only ``task``): the trial keys, ``bias``, ``epoch``,
        ``task``, ``jet`` (its position in :meth:`test_jets`), ``label`` (1 signal, 0 background), ``logit``
        and ``probability`` (its sigmoid), and ``weight`` for weighted jets. Kept only by a study run with
        ``--keep-scores``; a run without them is a ``DataError`` saying how to add them."""
        key = self._run.keys.get("evaluation")
        trial_ids = self._trial_ids()
        epochs = r"(-e\d+)?" if all_epochs else ""
        wanted = re.compile("|".join(f"{re.escape(t)}{epochs}-{re.escape(key) if key else '[0-9a-f]{10}'}"
                                     for t in trial_ids) or "(?!)")
        files = [path for path in self.store.checked_files("scores")
                 if wanted.fullmatch(posixpath.basename(path)[: -len(SUFFIX)])] \
            if "scores" in self.store.tables() else []
        if not files:
            raise DataError(f"run {self.run_key} of study {self.study!r} kept no per-jet scores; {_KEEP_SCORES}")
        frame = pd.concat([self.store.read_file("scores", path) for path in files], ignore_index=True)
        frame = frame[frame["study"] == self.study]
        if frame["settings_key"].nunique() > 1:
            raise self._unrecorded("scores", frame)
        if task is not None:
            if task not in set(frame["task"]):
                raise ConfigError(f"no scores of task {task!r}; this run's tasks: {', '.join(sorted(set(frame['task'])))}")
            frame = frame[frame["task"] == task]
        frame = frame.assign(probability=_sigmoid(frame["logit"].to_numpy()))
        return frame.sort_values([c for c in ("trial_id", "epoch", "task", "jet") if c in frame]).reset_index(drop=True)

    def _check_one_setting(self, *tables: str) -> None:
        """A ``DataError`` if a table of this run mixes rows of several settings, which only a study with no
        recorded run (still running, or written by hand) can: its rows are the whole store's."""
        for name in tables:
            if self._run.has(name) and "settings_key" in self._run.table(name) and name != "students" \
                    and self._run.table(name)["settings_key"].nunique() > 1:
                raise self._unrecorded(name, self._run.table(name))

    def _unrecorded(self, table: str, rows: pd.DataFrame) -> DataError:
        keys = ", ".join(sorted(rows["settings_key"].unique()))
        return DataError(f"study {self.study!r} has no recorded run, and its {table} rows hold several settings "
                         f"(keys {keys}) that nothing tells apart; read them with .table({table!r}) and choose by "
                         "settings_key, or wait for a run to finish")

    def _trial_ids(self) -> list[str]:
        for name in ("trials", "evaluations"):
            if self._run.has(name):
                return sorted(set(self._run.table(name)["trial_id"]))
        return []

    def summary(self) -> pd.DataFrame:
        """One row per trial of the run, every headline number as a column, for ``groupby("bias")``:
        ``trial_id``, ``bias``, ``model``, ``penalty``, ``lam``, ``seed``, ``best_epoch``, ``best_val_loss``,
        ``n_parameters``; ``roc_auc_<task>`` and ``accuracy_<task>`` per evaluated task; ``lambda1``,
        ``trace``, ``trace_stderr`` (Hessian); ``goldstone_rise_nu1`` and ``goldstone_rise_random`` (loss
        rise at the ends of the Goldstone scan); ``smearing_auc_drop`` (ROC-AUC lost at ``smearing_sigma_max``);
        ``symmetry_boost`` and ``symmetry_rotation`` (mean |σ(f(x)) − σ(f(Λx))|); ``distillation_mse`` (final
        validation MSE of its students, mean over student seeds). Columns of analyses the run lacks are left
        out. The numbers are those of the report (raysym.report.summaries)."""
        run = self._run
        self._check_one_setting("evaluations", "hessian", "goldstone", "smearing", "symmetry", "students")
        trials = self.trials()
        frame = trials[[c for c in _SUMMARY_TRIAL_COLUMNS if c in trials]].drop_duplicates("trial_id")
        parts = []
        if run.has("evaluations"):
            evaluations = run.table("evaluations")
            wide = evaluations.pivot(index="trial_id", columns="task", values=["roc_auc", "accuracy"])
            wide.columns = [f"{metric}_{task}" for metric, task in wide.columns]
            order = [f"{m}_{t}" for m in ("roc_auc", "accuracy") for t in self.tasks]
            parts.append(wide[[c for c in order if c in wide] + [c for c in wide if c not in order]])
        if run.has("hessian"):
            parts.append(summaries.curvature(run).set_index("trial_id")[["lambda1", "trace", "trace_stderr"]])
        if run.has("goldstone"):
            rise = summaries.goldstone_rise(run).pivot(index="trial_id", columns="direction", values="rise")
            parts.append(rise.add_prefix("goldstone_rise_"))
        if run.has("smearing"):
            drop = summaries.smearing_drop(run).set_index("trial_id")
            parts.append(drop[["drop", "sigma_max"]].rename(columns={"drop": "smearing_auc_drop",
                                                                     "sigma_max": "smearing_sigma_max"}))
        if run.has("symmetry"):
            for transform in ("boost", "rotation"):
                if transform in set(run.table("symmetry")["transform"]):
                    violation = summaries.symmetry_violation(run, transform).set_index("trial_id")["violation"]
                    parts.append(violation.rename(f"symmetry_{transform}").to_frame())
        if run.has("students"):
            students = run.table("students")
            parts.append(students.groupby("trial_id")["final_val_mse"].mean().rename("distillation_mse").to_frame())
        for part in parts:
            frame = frame.merge(part, left_on="trial_id", right_index=True, how="left")
        return frame.sort_values([c for c in ("bias", "seed", "trial_id") if c in frame]).reset_index(drop=True)

    # -- models and jets -----------------------------------------------------------------------------

    def model(self, model_id: str, epoch: int | None = None, device: str = "cpu") -> "TrainedModel":
        """The network of trial (or student) ``model_id``, ready to score jets: its best model, or with
        ``epoch`` the weights the study kept after that epoch (``--checkpoints every:K``)."""
        trials = self._run.table("trials") if self._run.has("trials") else pd.DataFrame(columns=["trial_id"])
        students = self._run.table("students") if self._run.has("students") else pd.DataFrame(columns=["student_id"])
        if model_id in set(trials["trial_id"]):
            row = trials[trials["trial_id"] == model_id].iloc[0]
            best_epoch = int(row["best_epoch"])
            if epoch is None or int(epoch) == best_epoch:
                path, epoch = row["model_path"], best_epoch
            else:
                path = self._kept_weights(model_id, best_epoch).get(int(epoch))
                if path is None:
                    kept = sorted(self._kept_weights(model_id, best_epoch))
                    raise ConfigError(f"trial {model_id} has no weights kept after epoch {epoch}; kept: "
                                      f"{', '.join(map(str, kept))} (a study keeps more with --checkpoints every:K)")
        elif model_id in set(students["student_id"]):
            row = students[students["student_id"] == model_id].iloc[0]
            if epoch is not None and int(epoch) != int(row["best_epoch"]):
                raise ConfigError(f"student {model_id}: only its best model (epoch {row['best_epoch']}) is kept")
            path, epoch = row["model_path"], int(row["best_epoch"])
        else:
            known = sorted(trials["trial_id"]) + sorted(students["student_id"])
            raise ConfigError(f"run {self.run_key} of study {self.study!r} has no trial or student {model_id!r}; it has "
                              f"{', '.join(known) or 'none'}")
        return TrainedModel.load(model_id, str(path), int(epoch), best=epoch == row["best_epoch"], device=device)

    def _kept_weights(self, trial_id: str, best_epoch: int) -> dict[int, str]:
        """Epoch -> weights file of the trial's kept epochs, its best model's included."""
        kept = {best_epoch: self._run.table("trials").set_index("trial_id").loc[trial_id, "model_path"]}
        if "checkpoints" in self.store.tables():
            rows = self.store.load("checkpoints")
            rows = rows[(rows["study"] == self.study) & (rows["trial_id"] == trial_id)]
            kept.update({int(e): p for e, p in zip(rows["epoch"], rows["model_path"])})
        return kept

    def test_jets(self) -> JetSet:
        """The run's test split, every class: the jets its evaluations and scores were computed on, read
        again from its data (the generated jets beside the store, or the files it was given) and checked
        to be the same jets by the run's data key. Read once per object."""
        if self._test_jets is None:
            self._test_jets = _run_test_jets(self)
        return self._test_jets

    # -- figures -------------------------------------------------------------------------------------

    def figures(self) -> dict[str, str]:
        """The figures this run can draw (name -> caption), in the report's order."""
        from raysym.report.figures import figure_specs

        return {spec.name: spec.caption_for(self._run) for spec in figure_specs() if self._applies(spec)}

    def figure(self, name: str):
        """Figure ``name`` of :meth:`figures` drawn from this run's rows: a ``matplotlib.figure.Figure``, in the
        report's style, made without pyplot (close nothing; display or ``savefig`` it)."""
        from raysym.report.figures import figure_specs, themed

        specs = {spec.name: spec for spec in figure_specs()}
        if name not in specs:
            raise ConfigError(f"unknown figure {name!r}; the figures: {', '.join(specs)}")
        if not self._applies(specs[name]):
            missing = [t for t in specs[name].tables if not self._run.has(t)]
            why = f"no {' or '.join(missing)} rows" if missing else "it does not apply to this study"
            raise ConfigError(f"figure {name!r} cannot be drawn for run {self.run_key} of study {self.study!r} "
                              f"({why}); this run's figures: {', '.join(self.figures()) or 'none'}")
        with themed():
            return specs[name].draw(self._run)

    def _applies(self, spec) -> bool:
        return all(self._run.has(t) for t in spec.tables) and spec.when(self._run)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """σ(logit) without overflow warnings for large |logit|."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))


def _from_record(cls, values: dict):
    """A settings dataclass from its recorded fields (``config_json``): nested sections rebuilt, lists back to
    tuples, fields the class no longer has dropped."""
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            value = _from_record(type(default), value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _run_test_jets(run: RunResults) -> JetSet:
    """The run's test split, rebuilt from its recorded jet settings (see :meth:`RunResults.test_jets`).
    Generated jets are read, never made: a run whose generated files are gone is a ``DataError``."""
    from raysym.artifacts import exists
    from raysym.generate.chunks import all_chunks, chunk_path
    from raysym.stages.jets import JetSettings, generated_dir, run_jets_stage

    if run.config is None or run._record is None:
        raise DataError(f"study {run.study!r} has no recorded run (it has not finished), so its jets are unknown")
    settings = _from_record(JetSettings, run.config["data"])
    home = run.store.home
    if settings.path is None:
        folder = generated_dir(settings, home)
        generator = settings.generator
        missing = [c for c, k in all_chunks(generator)
                   if not exists(chunk_path(folder, c, generator.seed, k, settings.dataset))]
        if missing:
            raise DataError(f"the jets of run {run.run_key} were generated into {folder}, which lacks class(es) "
                            f"{', '.join(sorted(set(missing)))}; rerun the study's command to make them again")
    jets = run_jets_stage(settings, home, run.task, run.tasks, progress=False)
    if jets.key != run._record["data_key"]:
        raise DataError(f"the jets read for run {run.run_key} ({settings.path or generated_dir(settings, home)}) are "
                        f"not the ones it used: data key {jets.key}, recorded {run._record['data_key']}")
    return jets.test


@dataclass(frozen=True)
class TrainedModel:
    """A trained network ready to score jets: a trial's best model (or a kept epoch, or a student), with the
    settings it was trained with. Scores come back as numpy arrays, one per jet."""

    name: str
    path: str
    epoch: int
    best: bool
    network: Any  # torch.nn.Module, in eval mode
    settings: Any  # the TrainConfig (a student's: DistillConfig) it was trained with
    device: str = "cpu"

    @classmethod
    def load(cls, name: str, path: str, epoch: int, best: bool, device: str = "cpu") -> "TrainedModel":
        from raysym.training.checkpoint import load_best_model

        network, settings, _ = load_best_model(path, device)
        return cls(name, path, epoch, best, network.to(device).eval(), settings, device)

    def __repr__(self) -> str:
        which = "best model" if self.best else "kept weights"
        return f"<{type(self.network).__name__} of {self.name}, {which} after epoch {self.epoch}, {self.path}>"

    def logits(self, jets, mask=None, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """The network's logit (float64) for every jet: ``jets`` a ``JetSet`` (or a task's view of one), or
        four-momenta ``p4`` (n, constituents, 4) in (E, px, py, pz) GeV with their boolean ``mask`` (n,
        constituents), numpy arrays or tensors."""
        import torch

        from raysym.models.predict import predict_logits

        p4, mask = _jet_arrays(jets, mask)
        return predict_logits(self.network, torch.from_numpy(p4), torch.from_numpy(mask), batch_size, self.device)

    def probabilities(self, jets, mask=None, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """σ(logit) of every jet: the network's signal probability (see :meth:`logits`)."""
        return _sigmoid(self.logits(jets, mask, batch_size))

    def task_scores(self, jets: JetSet, task: str, batch_size: int = PREDICT_BATCH_SIZE) -> pd.DataFrame:
        """The scores of ``task``'s jets in ``jets`` as the scores table holds them: ``jet`` (position in
        ``jets``), ``label`` (1 signal, 0 background), ``logit``, ``probability``, and ``weight`` for
        weighted jets."""
        from raysym.data.jetset import task_selection

        if not isinstance(jets, JetSet):
            raise ConfigError(f"task_scores needs a JetSet (its labels say which jets are the task's), got "
                              f"{type(jets).__name__}")
        index, y = task_selection(np.asarray(jets.label), jets.task_spec(task), jets.classes, jets.source)
        logits = self.logits(jets.subset(index), batch_size=batch_size)
        frame = pd.DataFrame({"task": task, "jet": index.astype(np.int64), "label": y.astype(np.int64),
                              "logit": logits, "probability": _sigmoid(logits)})
        if jets.weight is not None:
            frame["weight"] = jets.weight[index].astype(np.float64)
        return frame


def _jet_arrays(jets, mask) -> tuple[np.ndarray, np.ndarray]:
    """(p4 float32, mask bool), writable and contiguous, from a JetSet or from arrays; a wrong shape or a
    non-finite momentum is one error naming it."""
    if isinstance(jets, JetSet):
        if mask is not None:
            raise ConfigError("a JetSet carries its own mask: pass the jets alone")
        p4, mask = jets.p4, jets.mask
    elif mask is None:
        raise ConfigError("jets given as four-momenta need their mask too: logits(p4, mask), mask (n, constituents) "
                          "true for a real constituent")
    else:
        p4 = jets
    p4 = np.array(_numpy(p4), dtype=np.float32, order="C", copy=True)
    mask = np.array(_numpy(mask), order="C", copy=True)
    if p4.ndim != 3 or p4.shape[2] != 4:
        raise DataError(f"p4 has shape {p4.shape}, expected (n jets, constituents, 4) in (E, px, py, pz)")
    if mask.shape != p4.shape[:2]:
        raise DataError(f"mask has shape {mask.shape}, expected {p4.shape[:2]} (one entry per constituent)")
    if mask.dtype != np.bool_:
        if not np.isin(mask, (0, 1)).all():
            raise DataError("mask must be true/false (or 0/1) per constituent")
        mask = mask.astype(np.bool_)
    bad = ~np.isfinite(p4).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{int(bad.sum())} jet(s) with a non-finite momentum, first at jet {int(np.flatnonzero(bad)[0])}")
    return p4, mask


def _numpy(values) -> np.ndarray:
    """An array from numpy input or a (CPU or GPU) torch tensor."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)
