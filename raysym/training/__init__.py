"""One training run of one bias (model kind, penalty, λ) and seed, with no Ray inside (Glowacki §3.3).

Orchestrators (the Tune stage, a notebook, a test) call :func:`raysym.training.run.train` and receive
per-epoch metrics and checkpoints through a callback; :mod:`raysym.training.checkpoint` is the whole
checkpoint format; :func:`raysym.training.distill.distill` trains a student on a teacher's logits.
"""

from raysym.training.config import Bias, TrainConfig
from raysym.training.distill import DistillConfig, DistillResult, distill
from raysym.training.run import TrainResult, train

__all__ = ["Bias", "DistillConfig", "DistillResult", "TrainConfig", "TrainResult", "distill", "train"]
