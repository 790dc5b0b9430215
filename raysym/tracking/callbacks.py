"""The Tune callbacks of ``--track``: Ray's own MLflow and W&B loggers, told which stored trial a run is.

Per epoch they do what Ray's :class:`MLflowLoggerCallback` and :class:`WandbLoggerCallback` do: a trial's
Tune config as its parameters, each report as metrics at its training iteration. What they add is a run's
identity. A trial's run is tagged with its study, stage, stored trial id and settings key; and a trial
that Tune starts again — a retry after a failure, or a resumed study's unfinished trial — continues the
run it had instead of opening a second one: MLflow's is found by its trial tag, W&B's has a fixed id made
from the study and the trial (:func:`raysym.tracking.wandb_run_id`), resumed with ``resume="allow"``.

This module imports Ray's integrations, which import mlflow and wandb: seconds, so it is imported only
when a tracker is asked for.
"""

from __future__ import annotations

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.air.integrations.wandb import WandbLoggerCallback

from raysym.stages.tune_trials import trial_folder, trial_point
from raysym.tracking import KEY_TAG, STAGE_TAG, TRIAL_TAG, wandb_run_id


#: The id a Tune trial has in the store: the name of its folder in the experiment.
stored_trial_id = trial_folder


def settings_key_of(trial) -> str | None:
    """The trial's settings key (its point's ``key``: grid trials and students have one, search trials not)."""
    key = trial_point(trial.config).get("key")
    return str(key) if key else None


def tracked_runs(client, experiment_ids: list[str], trial_id: str, stage: str | None = None) -> list:
    """The MLflow runs of a stored trial (by its tag; of one stage, if given), newest first."""
    where = f"tags.`{TRIAL_TAG}` = '{trial_id}'" + (f" and tags.`{STAGE_TAG}` = '{stage}'" if stage else "")
    return client.search_runs(experiment_ids, filter_string=where, order_by=["attributes.start_time DESC"])


class MLflowTrials(MLflowLoggerCallback):
    """Ray's MLflow logger with per-trial tags (study, stage, stored trial id, settings key), and one run
    per stored trial: a trial started again continues its earlier run, marked running again."""

    def setup(self, *args, **kwargs):
        super().setup(*args, **kwargs)
        self._fixed_tags = dict(self.tags)

    def log_trial_start(self, trial):
        tags = {**self._fixed_tags, TRIAL_TAG: stored_trial_id(trial)}
        if settings_key_of(trial):
            tags[KEY_TAG] = settings_key_of(trial)
        if trial not in self._trial_runs:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=self.tracking_uri)
            earlier = tracked_runs(client, [self.mlflow_util.experiment_id], tags[TRIAL_TAG], tags.get(STAGE_TAG))
            if earlier:
                self._trial_runs[trial] = earlier[0].info.run_id
                client.update_run(earlier[0].info.run_id, status="RUNNING")
        self.tags = tags  # what Ray's logger tags a new run with
        super().log_trial_start(trial)


class WandbTrials(WandbLoggerCallback):
    """Ray's W&B logger; each trial's run has a fixed id (:func:`raysym.tracking.wandb_run_id`), the stage as
    its job type and the stage and settings key as tags. ``kwargs`` go to every run's ``wandb.init``."""

    def __init__(self, study: str, stage: str, **kwargs):
        super().__init__(**kwargs)
        self.study, self.stage, self._fixed = study, stage, dict(self.kwargs)

    def log_trial_start(self, trial):
        tags = [self.stage, *filter(None, [settings_key_of(trial)])]
        self.kwargs = {**self._fixed, "id": wandb_run_id(self.study, stored_trial_id(trial)), "tags": tags}
        super().log_trial_start(trial)
