"""The settings of one training run, and the inductive bias it trains, checked before any work starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from raysym.data.jetset import check_task
from raysym.errors import ConfigError, positive_int
from raysym.models.predict import PREDICT_BATCH_SIZE
from raysym.models.registry import build_model
from raysym.penalties import PENALTIES
from raysym.settings_key import canonical, keyed_fields, settings_key


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
        return f"{self.model}-{self.penalty}-{self.lam:g}{options}"

    @classmethod
    def parse(cls, text: str) -> "Bias":
        """``MODEL[:PENALTY[:LAMBDA]]``, e.g. ``teacher:seal:0.1``, ``dual``, ``teacher:dseal:0.03``.

        A penalty without λ gets Glowacki's λ = 0.1.
        """
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or not parts[0]:
            raise ConfigError(f"bias {text!r} is not MODEL[:PENALTY[:LAMBDA]]")
        try:
            lam = float(parts[2]) if len(parts) == 3 else (0.1 if len(parts) == 2 and parts[1] != "none" else 0.0)
        except ValueError:
            raise ConfigError(f"bias {text!r}: λ {parts[2]!r} is not a number") from None
        return cls(parts[0], parts[1] if len(parts) > 1 else "none", lam)


class RunSettings:
    """What every run's settings share (a teacher's ``TrainConfig``, a student's ``DistillConfig``): a plain
    dict form for checkpoints, equality up to the device, a key of everything that changes the result, and
    the seeded model. Subclasses are frozen dataclasses with ``model``, ``model_preset``,
    ``model_options``, ``seed`` and ``device`` fields."""

    #: How an error about unknown settings names them.
    KIND = "run"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown {cls.KIND} setting(s): {', '.join(unknown)}")
        return cls(**values)

    def same_run(self, other) -> bool:
        """Whether ``other`` describes the same run, allowing only a different device."""
        return dataclasses.replace(self, device="cpu") == dataclasses.replace(other, device="cpu")

    def settings_key(self, context: str) -> str:
        """The identity of this run's result: every setting but the device, and ``context`` (the key of the
        jets a teacher trains on, the teacher a student learns from). Equal keys, equal weights (on the CPU)."""
        return settings_key(canonical({**keyed_fields(self), "device": None}), context)

    def build_model(self) -> torch.nn.Module:
        """The model of this run, initialised from its seed (so every run of a seed starts equal)."""
        torch.manual_seed(self.seed)
        return build_model(self.model, self.model_preset, **self.model_options).to(self.device)


@dataclass(frozen=True)
class TrainConfig(RunSettings):
    """One run: the bias (model kind, penalty, λ), the seed, and the recipe of Glowacki §3.3.

    Adam with learning rate 0.005 and weight decay 0.0005, 100 epochs, and the weights of the epoch
    with the lowest validation loss kept (docs/methods.md §5). The validation loss is the training
    objective BCE + λ·penalty on the validation jets, with the same random transformations every epoch
    so epochs compare fairly. The paper gives no batch size; 256 is ours.

    A study holds one ``TrainConfig`` as its recipe; each trial is that recipe with the bias, the model
    sizes and the seed replaced (:meth:`for_trial`).
    """

    model: str = "teacher"
    model_preset: str = "paper"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    penalty: str = "none"
    lam: float = 0.0
    penalty_options: Mapping[str, Any] = field(default_factory=dict)
    task: str = "g_vs_w"
    seed: int = 0
    epochs: int = 100
    batch_size: int = 256
    eval_batch_size: int = PREDICT_BATCH_SIZE
    lr: float = 0.005
    weight_decay: float = 0.0005
    device: str = "cpu"

    KIND = "training"

    def __post_init__(self) -> None:
        if self.penalty not in PENALTIES:
            raise ConfigError(f"unknown penalty {self.penalty!r}; choose one of {', '.join(PENALTIES)}")
        if not (self.lam >= 0 and math.isfinite(self.lam)):  # also catches NaN
            raise ConfigError(f"penalty weight λ must be finite and >= 0, got {self.lam}")
        if self.penalty == "none" and self.lam != 0:
            raise ConfigError(f"penalty 'none' has nothing to weight: use λ = 0, not {self.lam}")
        check_task(self.task)
        for name in ("epochs", "batch_size", "eval_batch_size"):
            positive_int(name, getattr(self, name))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"learning rate must be finite and > 0, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"weight decay must be finite and >= 0, got {self.weight_decay}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "model_options", dict(self.model_options))
        object.__setattr__(self, "penalty_options", dict(self.penalty_options))

    @property
    def bias(self) -> Bias:
        """The inductive bias this run trains."""
        return Bias(self.model, self.penalty, self.lam, self.penalty_options)

    def for_trial(self, bias: Bias, seed: int, model_options: Mapping[str, Any] | None = None,
                  **changes: Any) -> "TrainConfig":
        """This recipe for one trial: ``bias`` and ``seed`` (and the model's sizes) replaced, checked."""
        return dataclasses.replace(self, model=bias.model, penalty=bias.penalty, lam=bias.lam,
                                   penalty_options=dict(bias.penalty_options), seed=seed,
                                   model_options=dict(model_options or {}), **changes)
