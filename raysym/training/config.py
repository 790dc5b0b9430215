"""The settings of one training run, checked before any work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from raysym.errors import ConfigError, positive_int


@dataclass(frozen=True)
class TrainConfig:
    """One run: the bias (model kind, penalty, λ), the seed, and the recipe of Glowacki §3.3.

    Adam with learning rate 0.005 and weight decay 0.0005, 100 epochs, and the weights of the epoch
    with the lowest validation loss kept. The validation loss is the training objective
    BCE + λ·penalty on the validation jets, with the same random transformations every epoch so
    epochs compare fairly. The paper gives no batch size; 256 is ours.
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
    eval_batch_size: int = 2048
    lr: float = 0.005
    weight_decay: float = 0.0005
    device: str = "cpu"

    def __post_init__(self) -> None:
        from raysym.data.jetset import TASKS
        from raysym.penalties import PENALTIES

        if self.penalty not in PENALTIES:
            raise ConfigError(f"unknown penalty {self.penalty!r}; choose one of {', '.join(PENALTIES)}")
        if not self.lam >= 0:  # also catches NaN
            raise ConfigError(f"penalty weight λ must be >= 0, got {self.lam}")
        if self.penalty == "none" and self.lam != 0:
            raise ConfigError(f"penalty 'none' has nothing to weight: use λ = 0, not {self.lam}")
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; known tasks: {', '.join(TASKS)}")
        for name in ("epochs", "batch_size", "eval_batch_size"):
            positive_int(name, getattr(self, name))
        if not self.lr > 0:
            raise ConfigError(f"learning rate must be > 0, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight decay must be >= 0, got {self.weight_decay}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        object.__setattr__(self, "model_options", dict(self.model_options))
        object.__setattr__(self, "penalty_options", dict(self.penalty_options))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**values)

    def same_run(self, other: "TrainConfig") -> bool:
        """Whether ``other`` describes the same run, allowing only a different device."""
        return dataclasses.replace(self, device="cpu") == dataclasses.replace(other, device="cpu")
