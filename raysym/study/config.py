"""The typed description of a study: one frozen config that contains every stage's settings.

A study is a grid of *biases* — (model kind, penalty, λ) — times seeds (Glowacki §3). It holds, rather
than copies, the settings of each stage: the jets (``data``, with the generator's own
:class:`~raysym.generate.config.GeneratorConfig`), the training ``recipe`` (a
:class:`~raysym.training.config.TrainConfig`; each trial is the recipe with its bias, sizes and seed
replaced), how the training stage runs (``training``), the evaluation, the analyses and the distillation
of every teacher into a student (``distillation``, with its own fixed ``DistillConfig`` recipe). Each section
checks its own fields when it is built; :meth:`StudyConfig.validate` adds only the checks that need two
sections or the machine, and runs before Ray starts, so a typo costs a second, not a cluster allocation.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from raysym.data.datasets import dataset as dataset_spec
from raysym.errors import ConfigError
from raysym.models.registry import model_config
from raysym.models.transformer import TransformerConfig
from raysym.stages.analysis_registry import check_options
from raysym.stages.analysis_settings import AnalysisSettings
from raysym.stages.checkpoints import BEST, CheckpointChoice
from raysym.stages.distillation import DistillationSettings
from raysym.stages.evaluation import EvaluationSettings
from raysym.stages.jets import JetSettings
from raysym.stages.training import SEARCH, TrainingSettings
from raysym.tracking import Tracking, parse_all
from raysym.training.config import Bias, TrainConfig

#: Characters allowed in study names (they become folder names and store values).
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")

#: Stands for a field a model config does not have (so any value asked for differs from it).
_MISSING = object()

#: The two biases of Glowacki §3: the unconstrained teacher and SEAL with λ = 0.1.
UNCONSTRAINED = Bias("teacher", "none", 0.0)
SEAL_PAPER = Bias("teacher", "seal", 0.1)


@dataclass(frozen=True)
class StudyConfig:
    """Everything one study does. ``biases`` × ``seeds`` is the training grid (unless ``training.search``).

    ``model_options`` holds size overrides per model kind, e.g. ``{"teacher": {"d_model": 32}}``; the
    recipe's model preset gives the rest.
    """

    name: str
    data: JetSettings = JetSettings()
    recipe: TrainConfig = TrainConfig()
    biases: tuple[Bias, ...] = (UNCONSTRAINED, SEAL_PAPER)
    seeds: tuple[int, ...] = (0, 1, 2)
    model_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    training: TrainingSettings = TrainingSettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    analyses: AnalysisSettings = AnalysisSettings()
    distillation: DistillationSettings = DistillationSettings()
    #: Which weights the evaluation and analysis stages measure: ``"best"`` (each trial's best model) or
    #: ``"every:K"``, also every K-th epoch of training — the trajectory (:mod:`raysym.stages.checkpoints`).
    analyse_checkpoints: str = BEST
    #: The experiment trackers the trials and their final numbers are logged to (:mod:`raysym.tracking`):
    #: ``--track`` texts (``"mlflow"``, ``"mlflow=URI"``, ``"wandb"``, ``"wandb=PROJECT"``) or Trackings.
    track: tuple[Tracking, ...] = ()

    #: How the study is watched, not what it computes: in no key and not in the run's record, so a study run
    #: with and without trackers is one run (raysym.settings_key).
    NOT_RECORDED: ClassVar[frozenset[str]] = frozenset({"track"})

    def __post_init__(self) -> None:
        CheckpointChoice.parse(self.analyse_checkpoints)
        object.__setattr__(self, "track", parse_all(self.track))
        object.__setattr__(self, "model_options", {k: dict(v) for k, v in dict(self.model_options).items()})
        object.__setattr__(self, "biases", tuple(self.biases))
        object.__setattr__(self, "seeds", tuple(self.seeds))

    def with_overrides(self, **overrides: Any) -> "StudyConfig":
        """A copy with fields replaced; a section (a nested dataclass) accepts a dict of its own fields,
        and so does a section's section (``data={"generator": {"jets_per_class": 100}}``)."""
        return _replace(self, overrides, "study")

    def for_dataset(self, name: str, path: str | None = None) -> "StudyConfig":
        """This study on the registered data set ``name`` (its files in ``path``): its in-distribution task
        becomes the training task of teachers and students, and every task it declares is evaluated."""
        spec = dataset_spec(name)
        data: dict[str, Any] = {"dataset": name, "path": path}
        if path is None and spec.generator_classes is not None:  # jets generated in its layout
            data["generator"] = {"classes": spec.generator_classes}
        return self.with_overrides(data=data, recipe={"task": spec.training_task.name},
                                   evaluation={"tasks": tuple(task.name for task in spec.tasks)})

    def with_transformer_settings(self, **settings: Any) -> "StudyConfig":
        """A copy whose jet transformers take ``settings`` (``dropout``, ``jet_axis``, any field of
        :class:`~raysym.models.transformer.TransformerConfig`): every teacher and student, and the dual
        model's unconstrained subnet. The hard-invariant model has no transformer and is left as it is.

        The settings land in ``model_options``, which is part of every trial's and student's key, so runs
        with other settings are new runs beside the old ones. A setting a model already has is not written,
        so asking for what a preset already does keeps its keys.
        """
        options = {kind: dict(values) for kind, values in self.model_options.items()}
        student = self.distillation.recipe
        presets = {student.model: student.model_preset, "student": student.model_preset}
        presets.update({bias.model: self.recipe.model_preset for bias in self.biases})
        presets.setdefault("teacher", self.recipe.model_preset)
        if self.training.search is not None:
            presets[self.training.search.model] = self.recipe.model_preset
        for kind, model_preset in sorted(presets.items()):
            own = options.get(kind, {})
            current = model_config(kind, model_preset, **own)
            # A transformer kind takes the settings itself; a kind with a transformer branch (the dual model)
            # takes them there; any other kind (the hard-invariant model) has no transformer.
            body = current if isinstance(current, TransformerConfig) else getattr(current, "transformer", None)
            if not isinstance(body, TransformerConfig):
                continue
            changed = {k: v for k, v in settings.items() if getattr(body, k, _MISSING) != v}
            if not changed:
                continue
            options[kind] = ({**own, **changed} if body is current
                             else {**own, "transformer": {**dataclasses.asdict(body), **changed}})
            model_config(kind, model_preset, **options[kind])  # checks the values: one ConfigError naming a bad one
        return dataclasses.replace(self, model_options=options)

    def trials(self, data_key: str) -> dict[str, TrainConfig]:
        """Every trial's ``TrainConfig`` by trial id: the recipe per bias × seed, or for a search its one
        base trial (:data:`~raysym.stages.training.SEARCH`, whose lr and λ Tune samples).

        A grid trial's id is ``<bias>-s<seed>-<key>``: readable, and with the key of every setting that
        changes its result and of the jets (``data_key``, from stage 0), so a rerun with other settings
        or other jets makes new trials beside the old ones instead of finding the old ones done.
        """
        device = self.training.device
        search = self.training.search
        if search is not None:
            bias = Bias(search.model, search.penalty, search.lam_range[0])
            return {SEARCH: self._trial(bias, self.seeds[0], device)}
        trials = {}
        for bias in self.biases:
            for seed in self.seeds:
                config = self._trial(bias, seed, device)
                trials[f"{bias.name}-s{seed}-{config.settings_key(data_key)}"] = config
        return trials

    @property
    def checkpoints(self) -> CheckpointChoice:
        """The parsed ``analyse_checkpoints``."""
        return CheckpointChoice.parse(self.analyse_checkpoints)

    def _trial(self, bias: Bias, seed: int, device: str) -> TrainConfig:
        return self.recipe.for_trial(bias, seed, self.model_options.get(bias.model, {}), device=device)

    def validate(self, *, local: bool = True) -> "StudyConfig":
        """Check what no single section can: names, the grid, tasks against jets, trials, the machine.

        ``local`` means no cluster address was given: then GPU requests must match this machine. Raises
        one ``ConfigError`` naming the first problem; returns the config.
        """
        if not _SAFE.match(self.name):
            raise ConfigError(f"study name {self.name!r} must be letters, digits, '.', '_', '=', '-'")
        if self.recipe.task not in self.evaluation.tasks:
            raise ConfigError(f"the training task {self.recipe.task!r} must be among the evaluation tasks")
        self.data.check(self.evaluation.tasks)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if self.training.search is None:
            if not self.biases:
                raise ConfigError("a grid study needs at least one bias")
            names = [b.name for b in self.biases]
            if len(set(names)) != len(names):
                raise ConfigError(f"biases given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        self.training.check(self.recipe)
        if local:
            self._check_machine()
        for config in self.trials(data_key="").values():  # builds and so checks every trial's settings
            model_config(config.model, config.model_preset, **config.model_options)
        self.distillation.students(self.model_options, self.recipe.task)  # the student's sizes with the overrides
        check_options(self.analyses)  # options only for registered analyses that take them
        for tracker in self.track:  # its packages installed, W&B's credentials, before Ray starts
            tracker.check()
        return self


    def _check_machine(self) -> None:
        """On a local Ray, no trial or task may ask for more CPUs or GPUs than this machine has, nor for a
        custom resource: Ray would queue it forever."""
        cpus = os.cpu_count() or 1
        asked = {"--cpus-per-trial": self.training.cpus_per_trial,
                 "evaluation cpus_per_task": self.evaluation.cpus_per_task,
                 "analyses cpus_per_task": self.analyses.cpus_per_task}
        for name, value in asked.items():
            if value > cpus:
                raise ConfigError(f"{name} {value:g} is more than the {cpus} CPUs of this machine; use at most "
                                  f"{cpus}, or --address of a cluster that has them")
        if self.training.trial_resources:
            names = ", ".join(f"{name}={amount:g}" for name, amount in self.training.trial_resources)
            raise ConfigError(f"--trial-resource {names}: the local Ray this study starts offers no custom "
                              "resources, so every trial would wait forever; use it with --address of a cluster "
                              "whose nodes offer it")
        gpus = self.training.gpus_per_trial
        if gpus > 0:
            import torch

            available = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if gpus > available:
                raise ConfigError(f"{gpus:g} GPU(s) per trial asked for, but this machine has "
                                  f"{available or 'no'} CUDA GPU{'s' if available != 1 else ''}; use "
                                  "--gpus-per-trial 0, or --address of a GPU cluster")
            for trial in self.trials(data_key="").values():  # bf16 needs a GPU that has it: say so before Ray
                trial.check_device()


def _replace(section: Any, overrides: Mapping[str, Any], where: str) -> Any:
    """``section`` with fields replaced; a dict given for a dataclass field replaces inside it."""
    known = {f.name for f in dataclasses.fields(section)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown {where} setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {}
    for key, value in overrides.items():
        current = getattr(section, key)
        if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
            value = _replace(current, value, key)
        values[key] = value
    try:
        return dataclasses.replace(section, **values)
    except TypeError as err:  # a wrong type the section's own checks did not expect
        raise ConfigError(f"bad {where} setting: {err}") from None
