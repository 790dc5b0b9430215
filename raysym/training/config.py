"""The settings of one training run, and the inductive bias it trains, checked before any work starts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import torch

from raysym.data.jetset import check_task_name
from raysym.errors import ConfigError, positive_int
from raysym.models.predict import PREDICT_BATCH_SIZE
from raysym.models.registry import build_model, model_config
from raysym.penalties import PENALTIES
from raysym.settings_key import canonical, settings_key

#: What a training step runs its network in (docs/methods.md §5): ``float32`` throughout, or ``bf16``:
#: the network's forward passes under bfloat16 autocast, everything else float32.
PRECISIONS: tuple[str, ...] = ("float32", "bf16")


def check_precision(precision: str) -> None:
    """An unknown precision name is a ``ConfigError`` listing the known ones."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


class AutocastNetwork:
    """A model called under bfloat16 autocast, handing back float32 logits: the network of a ``bf16`` step.

    Only the network's forward passes are autocast, not the whole step, because the step also does
    physics on TeV-scale four-momenta: SEAL boosts the jets and δSEAL builds Lorentz tangents with
    matrix products, which autocast would run in bfloat16 (8 significant bits). Handed to a penalty in
    place of the model, it keeps those in float32 while both of SEAL's forward passes, and δSEAL's
    differentiated one, run in bfloat16; the logits come back float32, so the BCE, the penalty's
    arithmetic, backward's accumulation into the float32 weights and Adam's update stay float32. bfloat16
    has float32's exponent range, so no loss scaling is needed.
    """

    def __init__(self, model: torch.nn.Module, device: str | torch.device):
        self.model = model
        self.device_type = torch.device(device).type

    def __call__(self, p4: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=self.device_type, dtype=torch.bfloat16):
            return self.model(p4, mask).float()


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
    the seeded model and how its training step calls it. Subclasses are frozen dataclasses with ``model``,
    ``model_preset``, ``model_options``, ``seed``, ``device`` and ``precision`` fields."""

    #: How an error about unknown settings names them, and what a checkpoint or best-model file records so
    #: that the right class reads its settings back (:func:`settings_from_dict`).
    KIND = "run"
    #: KIND → class, filled as subclasses are defined.
    KINDS: dict[str, type] = {}
    #: How errors about a setting of this run name it ("" for a teacher's, "distillation " for a student's),
    #: and its seed.
    LABEL = ""
    SEED_LABEL = "seed"
    #: Not in the run's key: the device it trains on (equal settings give equal weights on the CPU; a GPU's
    #: kernels differ in the last bits, which is not a different experiment).
    KEY_EXCLUDED: ClassVar[frozenset[str]] = frozenset({"device"})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        RunSettings.KINDS[cls.KIND] = cls

    def check_recipe(self) -> None:
        """The checks every run's settings share, with this kind's names in the messages: a known model kind,
        preset and sizes; positive epochs and batch sizes; a finite positive learning rate, a finite
        non-negative weight decay, a non-negative integer seed and a known precision."""
        object.__setattr__(self, "model_options", dict(self.model_options))
        model_config(self.model, self.model_preset, **self.model_options)  # unknown kind, preset or size
        check_task_name(self.task)
        for name in ("epochs", "batch_size", "eval_batch_size"):
            positive_int(f"{self.LABEL}{name}", getattr(self, name))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"{self.LABEL}learning rate must be finite and > 0, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ConfigError(f"{self.LABEL}weight decay must be finite and >= 0, got {self.weight_decay}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"{self.SEED_LABEL} must be a non-negative integer, got {self.seed!r}")
        check_precision(self.precision)

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
        return settings_key(canonical(self), context)

    def build_model(self) -> torch.nn.Module:
        """The model of this run, initialised from its seed (so every run of a seed starts equal)."""
        torch.manual_seed(self.seed)
        return build_model(self.model, self.model_preset, **self.model_options).to(self.device)

    def check_device(self) -> None:
        """Refuse, before any work, a precision this machine cannot run on the run's device.

        Called where the run trains, not where the study is configured: a cluster's driver may have no
        GPU. bfloat16 autocast works on every CPU (slowly without native bfloat16 instructions); on CUDA it
        needs native bfloat16 (compute capability 8.0 or newer: A10G, A100, H100, ...), not the emulation
        older GPUs offer.
        """
        if self.precision == "float32":
            return
        device_type = torch.device(self.device).type
        if not torch.amp.is_autocast_available(device_type):
            raise ConfigError(f"precision {self.precision!r} needs autocast, which torch has not for device "
                              f"{self.device!r}; use precision 'float32'")
        if device_type == "cuda" and not (torch.cuda.is_available()
                                          and torch.cuda.is_bf16_supported(including_emulation=False)):
            raise ConfigError(f"precision {self.precision!r} needs a CUDA GPU with native bfloat16 (compute "
                              "capability 8.0 or newer) and this machine has none; use precision 'float32'")

    def training_forward(self, model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """How the training step calls ``model``: the model itself in float32, under bf16 an
        :class:`AutocastNetwork`. Validation, prediction and Hessians call the model itself: float32."""
        return model if self.precision == "float32" else AutocastNetwork(model, self.device)


def settings_from_dict(values: Mapping[str, Any], kind: str = "training") -> "RunSettings":
    """A run's settings read back from a checkpoint or best-model file: ``kind`` is what the file recorded
    (files written before it recorded one hold a teacher's ``TrainConfig``)."""
    if kind not in RunSettings.KINDS:
        raise ConfigError(f"unknown run settings kind {kind!r}; known: {', '.join(sorted(RunSettings.KINDS))}")
    return RunSettings.KINDS[kind].from_dict(values)


@dataclass(frozen=True)
class TrainConfig(RunSettings):
    """One run: the bias (model kind, penalty, λ), the seed, and the recipe of Glowacki §3.3.

    Adam with learning rate 0.005 and weight decay 0.0005, 100 epochs, and the weights of the epoch
    with the lowest validation loss kept (docs/methods.md §5). The validation loss is the training
    objective BCE + λ·penalty on the validation jets, with the same random transformations every epoch
    so epochs compare fairly. The paper gives no batch size; 256 is ours. ``precision`` ``"bf16"`` runs
    the network of each training step under bfloat16 autocast (:class:`AutocastNetwork`); it is off by
    default and changes the numbers, so the key.

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
    precision: str = "float32"

    KIND = "training"

    def __post_init__(self) -> None:
        if self.penalty not in PENALTIES:
            raise ConfigError(f"unknown penalty {self.penalty!r}; choose one of {', '.join(PENALTIES)}")
        if not (self.lam >= 0 and math.isfinite(self.lam)):  # also catches NaN
            raise ConfigError(f"penalty weight λ must be finite and >= 0, got {self.lam}")
        if self.penalty == "none" and self.lam != 0:
            raise ConfigError(f"penalty 'none' has nothing to weight: use λ = 0, not {self.lam}")
        self.check_recipe()
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
