"""The typed description of a study (frozen dataclasses) and its named presets.

A study is a grid of *biases* — (model kind, penalty, λ) — times seeds, trained on one task with one
recipe and evaluated on every task (Glowacki §3). Presets name the studies users run; any field can be
overridden, and every setting is checked here, before Ray starts, so a typo costs a second, not a
cluster allocation.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from raysym.errors import ConfigError, positive_int

#: Characters allowed in study names and trial ids (they become file names and store keys).
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Bias:
    """One inductive bias: which model, which symmetry penalty, how strongly (L = BCE + λ·penalty)."""

    model: str = "teacher"
    penalty: str = "none"
    lam: float = 0.0
    penalty_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "penalty_options", dict(self.penalty_options))
        object.__setattr__(self, "lam", float(self.lam))

    @property
    def name(self) -> str:
        """A short, file-safe label: ``teacher``, ``teacher-seal-0.1``, ``dual``, ..."""
        if self.penalty == "none":
            return self.model
        options = "".join(f"-{k}={v}" for k, v in sorted(self.penalty_options.items()))
        return f"{self.model}-{self.penalty}-{_number(self.lam)}{options}"

    @classmethod
    def parse(cls, text: str) -> "Bias":
        """``MODEL[:PENALTY[:LAMBDA]]``, e.g. ``teacher:seal:0.1``, ``dual``, ``teacher:dseal:0.03``."""
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or not parts[0]:
            raise ConfigError(f"bias {text!r} is not MODEL[:PENALTY[:LAMBDA]]")
        try:
            lam = float(parts[2]) if len(parts) == 3 else (0.1 if len(parts) == 2 and parts[1] != "none" else 0.0)
        except ValueError:
            raise ConfigError(f"bias {text!r}: λ {parts[2]!r} is not a number") from None
        return cls(parts[0], parts[1] if len(parts) > 1 else "none", lam)


@dataclass(frozen=True)
class DataSettings:
    """Where the jets come from: hls4ml files (``hls4ml_dir``) or the offline generator."""

    hls4ml_dir: str | None = None
    jets_per_class: int = 3000
    generator_seed: int = 0
    classes: tuple[str, ...] = ("g", "w", "z", "t")
    chunk_size: int = 500
    mpi: bool = True
    detector: bool = True
    split_seed: int = 0


@dataclass(frozen=True)
class Resources:
    """Ray resources of one training trial and of one analysis task (fractional GPUs allowed)."""

    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    cpus_per_task: float = 1.0


@dataclass(frozen=True)
class SearchSpace:
    """A Tune hyperparameter search instead of a grid: learning rate × λ, with ASHA early stopping.

    Trials sample lr and λ log-uniformly for ``penalty`` on ``model``; ASHA stops the worse ones after
    ``grace_period`` epochs. Every trial still lands in the store like a grid trial.
    """

    num_samples: int = 8
    model: str = "teacher"
    penalty: str = "seal"
    lr_range: tuple[float, float] = (1e-4, 1e-2)
    lam_range: tuple[float, float] = (1e-3, 1.0)
    grace_period: int = 2
    reduction_factor: int = 2


@dataclass(frozen=True)
class AnalysisSettings:
    """What stage 2 measures on every best model, beyond test-set performance (SPEC §6).

    Hessian of the training loss (BCE) on a fixed, seeded set of ``hessian_jets`` training jets: top-k
    eigenpairs by Lanczos (``eigen_restarts`` independent starts, the largest λ1 kept) or by PyHessian's
    power iteration (``hessian_backend="pyhessian"``), and Tr(H) by Hutchinson with ``trace_probes``
    Rademacher probes, ``probes_per_task`` per Ray task. Then the pseudo-Goldstone scan along ν1 and the
    pT smearing sweep.
    """

    hessian: bool = True
    hessian_backend: str = "lanczos"
    hessian_jets: int = 512
    hessian_batch_size: int = 256
    hessian_seed: int = 0
    top_k: int = 1
    lanczos_steps: int = 30
    eigen_restarts: int = 1
    trace_probes: int = 32
    probes_per_task: int = 8
    #: "hutchinson" (the paper's estimator; probes fan out over tasks) or "hutch++" (Meyer et al. 2021,
    #: ``trace_probes`` HVPs in one task; ~40x fewer HVPs for the same error on our models).
    trace_method: str = "hutchinson"
    goldstone: bool = True
    #: ε range along the unit vector ν1: for λ1 ~ 20 (the quick teachers) ε = 0.2 already raises the loss
    #: by ½λ1ε² ≈ 0.4, the edge of the quadratic regime; ε = 1 leaves it.
    goldstone_eps_max: float = 0.2
    goldstone_points: int = 21
    goldstone_jets: int = 512
    smearing: bool = True
    smearing_sigmas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
    smearing_seed: int = 0

    def hessian_key(self) -> str:
        """A short hash of every setting that changes the Hessian numbers (rerun skipping)."""
        return _digest(self.hessian_backend, self.hessian_jets, self.hessian_batch_size, self.hessian_seed,
                       self.top_k, self.lanczos_steps, self.eigen_restarts, self.trace_probes, self.trace_method)

    def goldstone_key(self) -> str:
        return _digest(self.hessian_key(), self.goldstone_eps_max, self.goldstone_points, self.goldstone_jets)

    def smearing_key(self) -> str:
        return _digest(tuple(float(s) for s in self.smearing_sigmas), self.smearing_seed)


def _digest(*values: Any) -> str:
    import hashlib

    return hashlib.sha1(repr(values).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class StudyConfig:
    """Everything one study does. ``seeds`` × ``biases`` is the training grid (unless ``search``)."""

    name: str
    data: DataSettings = DataSettings()
    model_preset: str = "small"
    #: Size overrides per model kind, e.g. ``{"teacher": {"d_model": 32}}``.
    model_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    biases: tuple[Bias, ...] = (Bias(), Bias("teacher", "seal", 0.1))
    seeds: tuple[int, ...] = (0, 1)
    task: str = "g_vs_w"
    eval_tasks: tuple[str, ...] = ("g_vs_w", "g_vs_z", "g_vs_t")
    epochs: int = 12
    batch_size: int = 256
    lr: float = 0.005
    weight_decay: float = 0.0005
    resources: Resources = Resources()
    max_failures: int = 2
    storage_path: str | None = None
    search: SearchSpace | None = None
    analyses: AnalysisSettings = AnalysisSettings()
    #: Test hook: every trial raises once after reporting this epoch (fault-tolerance tests).
    fail_once_at_epoch: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_options", {k: dict(v) for k, v in dict(self.model_options).items()})
        object.__setattr__(self, "biases", tuple(self.biases))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "eval_tasks", tuple(self.eval_tasks))

    def with_overrides(self, **overrides: Any) -> "StudyConfig":
        """A copy with fields replaced; nested sections accept dicts of their own fields."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown study setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values = {}
        for key, value in overrides.items():
            current = getattr(self, key)
            if isinstance(value, Mapping) and dataclasses.is_dataclass(current):
                value = dataclasses.replace(current, **value)
            values[key] = value
        return dataclasses.replace(self, **values)

    def train_settings(self, bias: Bias, seed: int, device: str = "cpu", **extra: Any) -> dict[str, Any]:
        """The ``TrainConfig`` fields of one trial (a plain dict, so Tune can carry it)."""
        options = dict(self.model_options.get(bias.model, {}))
        return dict(model=bias.model, model_preset=self.model_preset, model_options=options,
                    penalty=bias.penalty, lam=bias.lam, penalty_options=dict(bias.penalty_options),
                    task=self.task, seed=seed, epochs=self.epochs, batch_size=self.batch_size,
                    lr=self.lr, weight_decay=self.weight_decay, device=device, **extra)

    def trial_id(self, bias: Bias, seed: int) -> str:
        """Deterministic id of a grid trial: the same study, bias and seed always name the same trial."""
        return f"{bias.name}-s{seed}"


def validate(config: StudyConfig, *, local: bool = True) -> StudyConfig:
    """Check every setting and combination; raise one ``ConfigError`` naming the first problem.

    ``local`` means no cluster address was given: then GPU requests must match this machine.
    """
    from raysym.data.jetset import TASKS
    from raysym.models.registry import PRESETS, model_config
    from raysym.training.config import TrainConfig

    if not _SAFE.match(config.name):
        raise ConfigError(f"study name {config.name!r} must be letters, digits, '.', '_', '=', '-'")
    if config.model_preset not in PRESETS:
        raise ConfigError(f"unknown model preset {config.model_preset!r}; choose one of {', '.join(PRESETS)}")
    for task in (config.task, *config.eval_tasks):
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    if config.task not in config.eval_tasks:
        raise ConfigError(f"the training task {config.task!r} must be among the evaluation tasks")
    data = config.data
    if data.hls4ml_dir is not None:
        from raysym.data.hls4ml_reader import resolve_files

        resolve_files(data.hls4ml_dir)  # a missing folder or one without jetImage_*.h5 fails here
    else:
        if not isinstance(data.jets_per_class, int) or data.jets_per_class < 10:
            raise ConfigError(f"jets_per_class must be an integer >= 10, got {data.jets_per_class!r}")
        needed = {c for task in config.eval_tasks for c in TASKS[task]}
        missing = sorted(needed - set(data.classes))
        if missing:
            raise ConfigError(f"the tasks need jet classes {','.join(missing)} that the data settings do not generate")
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"seeds must be distinct and at least one, got {list(config.seeds)}")
    if config.search is None:
        if not config.biases:
            raise ConfigError("a grid study needs at least one bias")
        names = [b.name for b in config.biases]
        if len(set(names)) != len(names):
            raise ConfigError(f"biases given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    res = config.resources
    if not res.cpus_per_trial > 0 or res.gpus_per_trial < 0 or not res.cpus_per_task > 0:
        raise ConfigError("resources: cpus per trial/task must be > 0 and GPUs per trial >= 0")
    if res.gpus_per_trial > 0 and local:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"{res.gpus_per_trial} GPU(s) per trial asked for, but this machine has no CUDA GPU; "
                              "use --gpus-per-trial 0, or --address of a GPU cluster")
    if not isinstance(config.max_failures, int) or config.max_failures < 0:
        raise ConfigError(f"max_failures must be an integer >= 0, got {config.max_failures!r}")
    _validate_analyses(config.analyses)
    search = config.search
    if search is not None:
        for name, (low, high) in (("lr_range", search.lr_range), ("lam_range", search.lam_range)):
            if not (0 < low < high and math.isfinite(high)):
                raise ConfigError(f"search {name} must be 0 < low < high, got ({low}, {high})")
        if search.num_samples < 1 or search.grace_period < 1 or search.reduction_factor < 2:
            raise ConfigError("search needs num_samples >= 1, grace_period >= 1 and reduction_factor >= 2")
        if search.grace_period > config.epochs:
            raise ConfigError(f"search grace period {search.grace_period} exceeds the {config.epochs} epochs")
        probes = [Bias(search.model, search.penalty, search.lam_range[0])]
    else:
        probes = list(config.biases)
    # Every trial's training settings must be valid on their own (λ < 0, unknown penalty, batch 0, ...).
    for bias in probes:
        TrainConfig(**config.train_settings(bias, config.seeds[0]))
        model_config(bias.model, config.model_preset, **config.model_options.get(bias.model, {}))
    return config


def _validate_analyses(settings: AnalysisSettings) -> None:
    """The analysis settings must describe a computation that can run."""
    if settings.hessian_backend not in ("lanczos", "pyhessian"):
        raise ConfigError(f"hessian backend must be 'lanczos' or 'pyhessian', got {settings.hessian_backend!r}")
    for name in ("hessian_jets", "hessian_batch_size", "top_k", "lanczos_steps", "eigen_restarts", "trace_probes",
                 "probes_per_task", "goldstone_jets"):
        positive_int(f"analyses: {name}", getattr(settings, name))
    if settings.trace_method not in ("hutchinson", "hutch++"):
        raise ConfigError(f"trace method must be 'hutchinson' or 'hutch++', got {settings.trace_method!r}")
    if settings.trace_method == "hutch++" and settings.trace_probes < 3:
        raise ConfigError("analyses: hutch++ needs a budget of trace_probes >= 3 HVPs")
    if settings.trace_probes < 2:
        raise ConfigError("analyses: a trace with a standard error needs trace_probes >= 2")
    if settings.top_k > settings.lanczos_steps:
        raise ConfigError(f"analyses: top_k {settings.top_k} needs at least as many Lanczos steps")
    if not (settings.goldstone_eps_max > 0 and math.isfinite(settings.goldstone_eps_max)):
        raise ConfigError(f"analyses: goldstone_eps_max must be > 0, got {settings.goldstone_eps_max}")
    if settings.goldstone_points < 3 or settings.goldstone_points % 2 == 0:
        raise ConfigError(f"analyses: goldstone_points must be odd and >= 3 (a symmetric grid with ε = 0), "
                          f"got {settings.goldstone_points}")
    sigmas = settings.smearing_sigmas
    if not sigmas or any(not (math.isfinite(s) and s >= 0) for s in sigmas):
        raise ConfigError(f"analyses: smearing sigmas must be finite and >= 0, got {list(sigmas)}")

