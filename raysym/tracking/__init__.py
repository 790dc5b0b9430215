"""Experiment tracking: a study's trials as runs of MLflow or Weights & Biases, through Ray Tune's own loggers.

The result store holds every number, but a team compares runs in its tracker. ``--track mlflow[=URI]`` and
``--track wandb[=PROJECT]`` add Ray's :class:`~ray.air.integrations.mlflow.MLflowLoggerCallback` and
:class:`~ray.air.integrations.wandb.WandbLoggerCallback` to both Tune stages: per trial and student they log
its parameters (its Tune config: bias, model, λ, seed, lr, epochs, …, its readable name and settings key)
and every metric it reports per epoch. raysym adds only what those callbacks cannot know:

- which study, stage and stored trial a run is (tags; a W&B run id made from the study and the trial's
  id), so that a trial Tune retries or a resumed study continues has one run, not one per attempt;
- when the study ends (:func:`raysym.tracking.final.log_final_numbers`), each trial's final numbers,
  which exist only after evaluation, the analyses and distillation: test-set accuracy and ROC-AUC per
  task, λ1, Tr(H), the pseudo-Goldstone rise, the smearing drop and the learned symmetry's violation (of
  this run's settings, as the report reads them), as metrics of the same MLflow run and as the summary of
  the same W&B run.

Tracking is how a run is watched, not what it computes: it is in no settings key, run key or run record
(:data:`raysym.study.config.StudyConfig.NOT_RECORDED`). Nothing here is imported before a tracker is asked
for: mlflow and wandb are optional (``pip install 'raysym[track]'``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raysym.errors import ConfigError
from raysym.settings_key import settings_key


#: The trackers ``--track`` names, and the packages each needs (MLflow's SQLite store: also SQLAlchemy and
#: Alembic, which mlflow-skinny leaves out).
TOOLS = ("mlflow", "wandb")
_PACKAGES = {"mlflow": ("mlflow",), "wandb": ("wandb",)}
_SQL_PACKAGES = ("sqlalchemy", "alembic")
#: The MLflow tracking URIs ``mlflow=URI`` takes: a SQLite or file store, or a tracking server.
MLFLOW_SCHEMES = ("sqlite:", "file:", "http://", "https://")
#: Characters a W&B project name may not hold.
_WANDB_FORBIDDEN = re.compile(r"[/\\#?%:\s]")
#: The MLflow tags (and W&B run fields) that say which study, stage and stored trial a run is.
STUDY_TAG, STAGE_TAG, TRIAL_TAG, KEY_TAG = "raysym.study", "raysym.stage", "raysym.trial_id", "raysym.key"
#: W&B's own environment settings that the trials' logging processes get from this one: on a cluster they
#: run on this node but do not inherit its environment (Ray forwards only WANDB_API_KEY).
_WANDB_FORWARDED = {"WANDB_MODE": "mode", "WANDB_ENTITY": "entity"}
_WANDB_OFFLINE = ("offline", "disabled", "dryrun")


@dataclass(frozen=True)
class Tracking:
    """One tracker of a study: ``tool`` (``mlflow`` or ``wandb``) and its ``target``, the MLflow tracking URI
    or the W&B project, None for the default (a file store, ``<out>/mlruns``; ``$WANDB_PROJECT`` or the
    study's name). Made from a ``--track`` text by :meth:`parse`; its form is checked when made, whether
    its packages are installed by :meth:`check`."""

    tool: str
    target: str | None = None

    def __post_init__(self) -> None:
        if self.tool not in TOOLS:
            raise ConfigError(f"--track {self.text}: unknown tracker {self.tool!r}; use "
                              "mlflow, mlflow=URI, wandb or wandb=PROJECT")
        if self.target is not None and not self.target.strip():
            raise ConfigError(f"--track {self.tool}=: give the {self._target_name} after '=', or leave '=' out "
                              "for the default")
        if self.tool == "mlflow" and self.target is not None and not self.target.startswith(MLFLOW_SCHEMES):
            raise ConfigError(f"--track {self.text}: an MLflow tracking URI is sqlite:///PATH, file:PATH, "
                              "http://HOST:PORT or https://HOST")
        if self.tool == "wandb" and self.target is not None and (
                _WANDB_FORBIDDEN.search(self.target) or len(self.target) > 128):
            raise ConfigError(f"--track {self.text}: a W&B project name has at most 128 characters and none "
                              "of / \\ # ? % : or spaces")

    @classmethod
    def parse(cls, text: "str | Tracking") -> "Tracking":
        """``mlflow``, ``mlflow=URI``, ``wandb`` or ``wandb=PROJECT`` (a Tracking is returned as it is)."""
        if isinstance(text, Tracking):
            return text
        if not isinstance(text, str):
            raise ConfigError(f"--track {text!r}: expected mlflow, mlflow=URI, wandb or wandb=PROJECT")
        tool, sep, target = text.strip().partition("=")
        return cls(tool.strip().lower(), target.strip() if sep else None)

    @property
    def text(self) -> str:
        """The ``--track`` text that makes this tracker."""
        return self.tool if self.target is None else f"{self.tool}={self.target}"

    @property
    def _target_name(self) -> str:
        return "tracking URI" if self.tool == "mlflow" else "project"

    def check(self) -> None:
        """Raise one ConfigError if this tracker cannot work here: a package it needs is not installed, a
        SQLite store's folder is missing, or W&B is online without credentials. Reads no network."""
        needed = _PACKAGES[self.tool]
        if self.tool == "mlflow" and self.target is not None and self.target.startswith("sqlite:"):
            needed += _SQL_PACKAGES
        missing = [name for name in needed if importlib.util.find_spec(name) is None]
        if missing:
            raise ConfigError(f"--track {self.text} needs the package{'s' if len(missing) > 1 else ''} "
                              f"{', '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} not installed: "
                              "pip install 'raysym[track]'")
        if self.tool == "mlflow" and self.target and self.target.startswith("sqlite:"):
            folder = os.path.dirname(os.path.abspath(_sqlite_path(self.target)))
            if not os.path.isdir(folder):
                raise ConfigError(f"--track {self.text}: the folder {folder} of the SQLite file does not exist")
        if self.tool == "wandb" and os.environ.get("WANDB_MODE", "").lower() not in _WANDB_OFFLINE:
            if not os.environ.get("WANDB_API_KEY") and not _wandb_logged_in():
                raise ConfigError(f"--track {self.text}: W&B is online but has no API key; set WANDB_API_KEY, "
                                  "run `wandb login`, or set WANDB_MODE=offline (runs kept on disk, uploaded "
                                  "later by `wandb sync`)")

    def check_output(self, out_dir: str) -> None:
        """Raise a ConfigError where this tracker's default store would be inside a remote ``out_dir``
        (MLflow's file store and W&B's offline runs need a local folder)."""
        if "://" not in out_dir or out_dir.startswith("file://"):
            return
        if self.tool == "mlflow" and self.target is None:
            raise ConfigError(f"--track mlflow with --out {out_dir}: MLflow's default store is a folder in a "
                              "local --out; name a store: --track mlflow=file:PATH, sqlite:///PATH or "
                              "http://SERVER")
        if self.tool == "wandb" and not os.environ.get("WANDB_DIR") and \
                os.environ.get("WANDB_MODE", "").lower() in _WANDB_OFFLINE:
            raise ConfigError(f"--track wandb offline with --out {out_dir}: offline runs are kept in a local "
                              "folder; set WANDB_DIR")

    # -- where the runs go ---------------------------------------------------------------------------

    def mlflow_uri(self, out_dir: str) -> str:
        """The MLflow tracking URI: the one given, or a file store in the study's (local) output folder,
        ``<out>/mlruns``. MLflow 3 opens a file store only when ``MLFLOW_ALLOW_FILE_STORE`` is set (it
        keeps them, but recommends a database); a file store asked for here is that choice, so this sets it
        for this process (a value the user set is kept).

        A file store, not SQLite, by default: it needs no database packages and, measured on 2 busy cores,
        Ray's logger writes a report of 40 metrics to it in 0.15 s against 1.9 s to SQLite (whose first
        open also takes 13 s to create its tables)."""
        uri = self.target if self.target is not None else Path(_local(out_dir), "mlruns").as_uri()
        if uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        return uri

    def wandb_project(self, study: str) -> str:
        """The W&B project: the one given, else ``$WANDB_PROJECT``, else the study's name."""
        return self.target or os.environ.get("WANDB_PROJECT") or study

    def wandb_settings(self, out_dir: str) -> dict[str, Any]:
        """The ``wandb.init`` arguments every run of the study gets: W&B's own environment settings of this
        process (``WANDB_MODE``, ``WANDB_ENTITY``, ``WANDB_SILENT``) and the folder of its local files,
        ``$WANDB_DIR`` or the study's output folder (never a trial's temporary folder)."""
        settings: dict[str, Any] = {init: os.environ[env] for env, init in _WANDB_FORWARDED.items()
                                    if os.environ.get(env)}
        folder = os.environ.get("WANDB_DIR") or (None if "://" in out_dir and not out_dir.startswith("file://")
                                                 else _local(out_dir))
        if folder:
            os.makedirs(folder, exist_ok=True)
            settings["dir"] = folder
        if os.environ.get("WANDB_SILENT", "").lower() in ("1", "true", "yes"):
            settings["settings"] = {"silent": True}
        return settings

    def tune_callback(self, study: str, stage: str, out_dir: str):
        """The Ray Tune callback that logs the trials of ``stage`` ("training" or "distillation") of
        ``study``: Ray's own MLflow or W&B logger, told the study, the stage and where to write."""
        from raysym.tracking.callbacks import MLflowTrials, WandbTrials  # imports Ray's loggers: seconds

        if self.tool == "mlflow":
            return MLflowTrials(self.mlflow_uri(out_dir), experiment_name=study,
                                tags={STUDY_TAG: study, STAGE_TAG: stage})
        return WandbTrials(study, stage, project=self.wandb_project(study), job_type=stage, resume="allow",
                           **self.wandb_settings(out_dir))


def parse_all(texts) -> tuple[Tracking, ...]:
    """Several ``--track`` texts (or Trackings); each tracker at most once (two MLflow loggers in one process
    would share MLflow's one current tracking URI)."""
    if isinstance(texts, (str, Tracking)):
        texts = (texts,)
    tracks = tuple(Tracking.parse(text) for text in texts or ())
    tools = [t.tool for t in tracks]
    twice = sorted({tool for tool in tools if tools.count(tool) > 1})
    if twice:
        raise ConfigError(f"--track {twice[0]} given {tools.count(twice[0])} times; name each tracker once")
    return tracks


def _local(out_dir: str) -> str:
    return out_dir[len("file://"):] if out_dir.startswith("file://") else out_dir


def _sqlite_path(uri: str) -> str:
    """The file of a ``sqlite:///PATH`` URI (``sqlite:////abs`` is absolute, ``sqlite:///rel`` relative)."""
    return re.sub(r"^sqlite:/{0,3}", "", uri)


def _wandb_logged_in() -> bool:
    """Whether W&B has credentials without WANDB_API_KEY (``wandb login`` wrote them); asks no server."""
    import wandb

    try:
        return bool(wandb.login(prompt=False, verify=False))
    except Exception:  # wandb's own errors (no terminal, a bad settings file): no usable credentials
        return False


def wandb_run_id(study: str, trial_id: str) -> str:
    """The W&B run id of a stored trial or student: the same in every run of the study, so that a retried
    trial, a resumed study and the final numbers all land in one run."""
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', trial_id)[:48]}-{settings_key(study, trial_id)[:8]}"
