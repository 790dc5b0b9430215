"""Every table raysym writes, declared in one place: the columns each needs and the type of each column
it knows.

The store (:mod:`raysym.store`) checks every write against this list, so a stage cannot store a table
nobody declared, leave out a column its readers rely on, or put text where numbers belong (a column of
the wrong type would make the whole table unreadable as one DataFrame later). A table may carry extra
columns beyond these (a new metric); only the declared ones are required or typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from raysym.errors import ConfigError

STR, INT, FLOAT, BOOL = "str", "int", "float", "bool"
#: A file the study made (a model, a ν1 vector), stored as text relative to the study's output location,
#: the folder that holds the store (raysym.store), so a study copied or moved elsewhere reads and writes
#: its own files, never the original's. Readers get it back as a full location.
PATH = "path"

#: The columns that identify a trial; every row of every table carries them so tables join.
TRIAL_COLUMNS: Mapping[str, str] = {"study": STR, "trial_id": STR, "model": STR, "penalty": STR, "lam": FLOAT,
                                    "seed": INT}


@dataclass(frozen=True)
class Table:
    """The columns a table must have (after the trial keys, unless it is not per trial) and the typed
    columns it may have."""

    required: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    per_trial: bool = True
    #: What one row is, for readers of the store (the README's table list is made from it).
    rows: str = ""

    @property
    def keys(self) -> dict[str, str]:
        """The identifying columns every row carries: the trial keys, or just the study."""
        return dict(TRIAL_COLUMNS) if self.per_trial else {"study": STR}

    @property
    def types(self) -> dict[str, str]:
        return {**self.keys, **self.required, **self.optional}


#: Where in training the analysed weights come from: the epoch, and whether they are the trial's best model
#: (raysym.stages.checkpoints). Rows written before trajectories existed lack both and are best-model rows.
_WHICH_WEIGHTS = {"epoch": INT, "best": BOOL}

_METRICS = {name: FLOAT for name in ("train_bce", "train_penalty", "train_loss", "val_loss", "val_bce", "val_penalty",
                                     "val_accuracy", "val_roc_auc", "epoch_seconds", "jets_per_second")}

TABLES: dict[str, Table] = {
    # One row per study run: its whole configuration, where its jets came from, and which trials,
    # students and settings keys it produced, so figures and the report pick out that run (raysym.study).
    "studies": Table(
        required={"run_key": STR, "config_json": STR, "data_source": STR, "data_key": STR, "trial_ids": STR,
                  "student_ids": STR, "keys_json": STR},
        # dataset_json: every run of schema 3 writes it (and the migration fills it), but an older store's rows
        # must stay readable for the migration to find them.
        optional={"jets_json": STR, "finished_at": FLOAT, "dataset_json": STR},
        per_trial=False,
        rows="one study run: its settings, where its jets came from, the trials, students and settings keys it "
             "produced",
    ),
    # One row per trial: what was trained and where its best model is (raysym.stages.training).
    "trials": Table(
        required={"n_parameters": INT, "best_epoch": INT, "best_val_loss": FLOAT, "epochs": INT, "model_path": PATH,
                  "model_preset": STR, "task": STR},
        optional={"bias": STR, "lr": FLOAT, "weight_decay": FLOAT, "batch_size": INT, "stopped_early": BOOL,
                  "settings_key": STR, "data_key": STR, "experiment": STR},
        rows="one trial: what was trained and where its best model is",
    ),
    # One row per trial and epoch (raysym.stages.training).
    "epochs": Table(required={"epoch": INT, **_METRICS}, optional={"bias": STR, "best_epoch": INT},
                    rows="one trial and epoch: training and validation metrics"),
    # One row per trial and task: test-set performance (raysym.stages.evaluation).
    "evaluations": Table(
        required={"task": STR, "split": STR, "accuracy": FLOAT, "roc_auc": FLOAT, "n_jets": INT},
        optional={"bias": STR, "bce": FLOAT, "n_signal": INT, "n_background": INT, "node_id": STR,
                  "settings_key": STR, **_WHICH_WEIGHTS},
        rows="one analysed model and task: test-set accuracy and ROC-AUC",
    ),
    # The thinned ROC curve of each trial and task (raysym.stages.evaluation).
    "roc": Table(required={"task": STR, "split": STR, "fpr": FLOAT, "tpr": FLOAT, "threshold": FLOAT},
                 optional={"bias": STR, "settings_key": STR, **_WHICH_WEIGHTS},
                 rows="one point of the thinned ROC curve of a model and task"),
    # Opt-in (evaluation keep_scores, --keep-scores): every test jet's logit per model and task, so any ROC
    # curve or working point can be computed again (raysym.stages.evaluation). ``jet`` is the jet's position
    # in the study's test split; ``label`` 1 for signal, 0 for background.
    "scores": Table(required={"task": STR, "split": STR, "jet": INT, "label": INT, "logit": FLOAT,
                              "settings_key": STR},
                    optional={"bias": STR, "weight": FLOAT, **_WHICH_WEIGHTS},
                    rows="one model, task and test jet: its label and the model's logit (with --keep-scores)"),
    # One row per trial and eigenvalue index k: λk, Tr(H) and their costs (raysym.stages.analyses).
    "hessian": Table(
        required={"k": INT, "eigenvalue": FLOAT, "trace": FLOAT, "trace_stderr": FLOAT, "n_hvp": INT,
                  "seconds": FLOAT, "backend": STR, "eval_set_size": INT, "nu1_path": PATH, "settings_key": STR},
        optional={"bias": STR, "n_probes": INT, "eigen_hvp": INT, "trace_hvp": INT, "restarts": INT,
                  "trace_method": STR, "trace_stop": STR, **_WHICH_WEIGHTS},
        rows="one model and eigenvalue index k: λk, Tr(H) and their costs",
    ),
    # The Hessian's eigenvalue density by stochastic Lanczos quadrature, on a grid (raysym.stages.analyses).
    "spectrum": Table(required={"eigenvalue": FLOAT, "density": FLOAT, "settings_key": STR},
                      optional={"bias": STR, "sigma": FLOAT, "n_probes": INT, "n_nodes": INT, **_WHICH_WEIGHTS},
                      rows="one grid point of a model's Hessian eigenvalue density (stochastic Lanczos quadrature)"),
    # Loss and R(ε) along ν1 and a random direction (raysym.stages.analyses).
    "goldstone": Table(
        required={"direction": STR, "epsilon": FLOAT, "loss": FLOAT, "r_mean": FLOAT, "r_std": FLOAT,
                  "settings_key": STR},
        optional={"bias": STR, **_WHICH_WEIGHTS},
        rows="one model, direction (ν1 or random) and ε: the loss and R(ε)",
    ),
    # One row per distilled student and epoch (0: the untrained student), keyed by the teacher's trial
    # keys plus student_seed (raysym.stages.distillation).
    "distillation": Table(
        required={"student_id": STR, "student_seed": INT, "epoch": INT, "train_mse": FLOAT, "val_mse": FLOAT,
                  "settings_key": STR},
        optional={"bias": STR, "best_epoch": INT, "epoch_seconds": FLOAT, "jets_per_second": FLOAT},
        rows="one student and epoch (0: untrained): the MSE against its teacher",
    ),
    # One row per distilled student: its final and best val MSE against the teacher and its own test-set
    # accuracy and ROC-AUC on every task (raysym.stages.distillation).
    "students": Table(
        required={"student_id": STR, "student_seed": INT, "final_val_mse": FLOAT, "best_val_mse": FLOAT,
                  "best_epoch": INT, "epochs": INT, "n_parameters": INT, "model_path": PATH, "settings_key": STR},
        optional={"bias": STR, "teacher_trial_id": STR, "student_model": STR, "student_preset": STR,
                  **{f"{metric}_{task}": FLOAT for metric in ("accuracy", "roc_auc")
                     for task in ("g_vs_w", "g_vs_z", "g_vs_t")}},
        rows="one student: its MSE against its teacher and its own test-set scores",
    ),
    # ROC-AUC and accuracy versus pT smearing σ (raysym.stages.analyses).
    "smearing": Table(
        required={"sigma": FLOAT, "task": STR, "roc_auc": FLOAT, "accuracy": FLOAT, "settings_key": STR},
        optional={"bias": STR, "n_jets": INT, **_WHICH_WEIGHTS},
        rows="one model, task and pT smearing σ: ROC-AUC and accuracy",
    ),
    # The weights kept for analysis at every K-th epoch of a trial, one row per epoch (raysym.stages.training,
    # with analyse_checkpoints="every:K"; raysym.stages.checkpoints).
    "checkpoints": Table(required={"epoch": INT, "model_path": PATH, "val_loss": FLOAT},
                         optional={"bias": STR, "keep_every": INT},
                         rows="one weights file kept every K-th epoch of a trial"),
    # One row per look of a sequential study and finding: the seeds per bias so far, the α the look's intervals
    # were read at, the interval and the outcome (raysym.study.sequential).
    "rounds": Table(
        required={"sequence": STR, "look": INT, "seeds": INT, "alpha": FLOAT, "run_key": STR, "finding": STR,
                  "outcome": STR, "estimate": FLOAT, "low": FLOAT, "high": FLOAT},
        optional={"scale": STR, "paper": FLOAT, "seconds": FLOAT},
        per_trial=False,
        rows="one look of a sequential study and finding: seeds, α, interval, outcome",
    ),
    # Learned symmetry: |σ(f(x)) − σ(f(Λx))| over test jets per bin of boost speed β or rotation angle, and
    # the dual model's learned symmetry factor w_inv (raysym.analyses.symmetry, raysym.stages.analyses).
    "symmetry": Table(
        required={"transform": STR, "bin_low": FLOAT, "bin_high": FLOAT, "mean": FLOAT, "p90": FLOAT, "n_jets": INT,
                  "settings_key": STR},
        optional={"bias": STR, "fraction": FLOAT, "n_transforms": INT, **_WHICH_WEIGHTS},
        rows="one model, transformation kind and bin: the learned symmetry violation (and the dual model's "
             "factor)",
    ),
}


def register_table(name: str, table: Table) -> None:
    """Declare a table a registered analysis brings (:mod:`raysym.stages.analysis_spec`). Declaring a name
    again with the same columns is harmless (a module imported twice); with other columns it is an error."""
    if name in TABLES and TABLES[name] != table:
        raise ConfigError(f"table {name!r} is declared already, with other columns")
    TABLES[name] = table
