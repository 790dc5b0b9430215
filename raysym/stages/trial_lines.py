"""The console of a Tune stage: one line per trial event and one progress bar, instead of Tune's table.

Tune's own output (its ``verbose`` levels) prints a box of every trial's config and a status table at
every report; for a study of a few trials on a laptop that was 70 % of everything printed, and the
table cut trial ids so that the bias was lost. A study needs less: which trial started, how each ended
(its best epoch and validation numbers, or its error and whether Tune retries it), and how far the stage
has come. :class:`TrialLines` says exactly that, through Tune's callback hooks, and keeps one tqdm bar of
the stage's epochs (``--verbose`` brings Tune's table back; ``--quiet`` drops both).

The callback is pickled with the experiment (Tune saves its run configuration), so it holds only plain
values and makes its bar when the run starts.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Mapping, Sequence

from ray import tune

from raysym.stages.tune_trials import trial_point

#: Validation numbers a finished trial's line shows, by the names trials report them, with their labels.
TRAINING_METRICS: tuple[tuple[str, str], ...] = (("val_bce", "val BCE"), ("val_roc_auc", "val ROC-AUC"),
                                                 ("val_accuracy", "val accuracy"))
DISTILLATION_METRICS: tuple[tuple[str, str], ...] = (("val_mse", "val MSE"),)


def trial_label(trial) -> str:
    """The name a line gives a trial: its readable name (the settings key is in its config), or Tune's."""
    return str(getattr(trial, "custom_trial_name", None) or trial_point(trial.config).get("name") or trial.trial_id)


def error_text(trial) -> str:
    """The last line of a failed trial's latest error (the exception itself, after its traceback), read from
    the error file Tune writes in the trial's local folder before it calls back; empty when there is none."""
    try:
        text = open(trial.error_file).read() if trial.error_file else ""
    except OSError:  # the line still says the trial failed
        return ""
    latest = text.rsplit("Failure # ", 1)[-1]
    lines = [line.strip() for line in latest.splitlines()[1:] if line.strip()]
    return lines[-1] if lines else ""


class TrialLines(tune.Callback):
    """One console line per trial event of the Tune stage ``stage`` and a bar of its epochs.

    ``metrics`` are the (reported name, label) pairs a finished trial's line shows, taken at its best
    epoch (the epoch its reports name as ``best_epoch``). The bar counts the epochs of every trial of the
    run (their configs' ``epochs``; a restored run starts at the epochs it had done). ``stream`` is where
    lines go (``sys.stdout`` when None, looked up when a line is written, so the callback pickles).
    """

    def __init__(self, stage: str, metrics: Sequence[tuple[str, str]] = TRAINING_METRICS, stream=None,
                 bar: bool = True):
        self.stage, self.metrics, self.stream, self.bar = stage, tuple(metrics), stream, bar
        self._best: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._tqdm = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_tqdm"] = None
        if state["stream"] in (sys.stdout, sys.stderr):
            state["stream"] = None
        return state

    # -- output --------------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """Write one line above the bar (tqdm's write keeps the bar whole)."""
        stream = self.stream or sys.stdout
        line = f"{self.stage}: {text}"
        if self._tqdm is not None:
            self._tqdm.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    def _update_bar(self, trials: list) -> None:
        """The bar's total: every known trial's planned epochs (a search adds trials as it samples them)."""
        if not self.bar:
            return
        total = sum(int(trial_point(t.config).get("epochs") or 0) for t in trials)
        if not total:
            return
        if self._tqdm is None:
            from tqdm.auto import tqdm

            done = sum(int((t.last_result or {}).get("epoch") or 0) for t in trials)
            for t in trials:
                self._seen.setdefault(t.trial_id, int((t.last_result or {}).get("epoch") or 0))
            self._tqdm = tqdm(total=total, initial=done, unit="epoch", desc=self.stage,
                              file=self.stream or sys.stderr, leave=False)
        elif self._tqdm.total != total:
            self._tqdm.total = total
            self._tqdm.refresh()

    # -- Tune's hooks --------------------------------------------------------------------------------

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        self._update_bar(trials)

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self._started[trial.trial_id] = time.monotonic()
        resumed = self._attempts.get(trial.trial_id, 0) > 0
        self.say(f"{'resumed' if resumed else 'started'} {trial_label(trial)}  (key {trial_point(trial.config).get('key', '-')})")

    def on_trial_result(self, iteration: int, trials: list, trial, result: Mapping[str, Any], **info) -> None:
        epoch = result.get("epoch")
        if epoch is None:
            return
        if epoch == result.get("best_epoch"):
            self._best[trial.trial_id] = dict(result)
        seen = self._seen.get(trial.trial_id, 0)
        if self._tqdm is not None and epoch > seen:  # a retried trial reports some epochs twice
            self._tqdm.update(epoch - seen)
        self._seen[trial.trial_id] = max(seen, int(epoch))

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        last = trial.last_result or {}
        best = self._best.get(trial.trial_id, last)
        epochs = last.get("epoch", "?")
        planned = trial_point(trial.config).get("epochs")
        numbers = ", ".join(f"{label} {best[name]:.4f}" for name, label in self.metrics if name in best)
        stopped = f" (stopped at epoch {epochs} of {planned})" if planned and epochs != planned else ""
        seconds = time.monotonic() - self._started.get(trial.trial_id, time.monotonic())
        self.say(f"finished {trial_label(trial)}: best epoch {best.get('best_epoch', best.get('epoch', '?'))} of "
                 f"{epochs}{stopped}, {numbers} ({seconds:.0f} s)")

    def on_trial_recover(self, iteration: int, trials: list, trial, **info) -> None:
        self._attempts[trial.trial_id] = self._attempts.get(trial.trial_id, 0) + 1
        error = error_text(trial)
        self.say(f"{trial_label(trial)} failed after epoch {self._seen.get(trial.trial_id, 0)}"
                 f"{': ' + error if error else ''}; retry {self._attempts[trial.trial_id]} resumes it from its "
                 "last checkpoint")

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        error = error_text(trial)
        where = f" (traceback: {trial.error_file})" if trial.error_file else ""
        self.say(f"{trial_label(trial)} FAILED after epoch {self._seen.get(trial.trial_id, 0)} and "
                 f"{self._attempts.get(trial.trial_id, 0)} retries{': ' + error if error else ''}{where}")

    def on_experiment_end(self, trials: list, **info) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
