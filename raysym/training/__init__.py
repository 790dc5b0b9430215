"""One training run of one bias (model kind, penalty, λ) and seed, with no Ray inside (Glowacki §3.3).

Orchestrators (the Tune stage, a notebook, a test) call :func:`raysym.training.run.train` and receive
per-epoch metrics and checkpoints through a callback.
"""

from raysym.training.config import TrainConfig
from raysym.training.run import TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
