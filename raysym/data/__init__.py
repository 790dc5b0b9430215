"""Jet data: the hls4ml file layout, its reader, the in-memory jet set, and its on-disk cache."""

from raysym.data.cache import load_jets
from raysym.data.hls4ml_reader import read_hls4ml, resolve_files
from raysym.data.jetset import (
    PAPER_FRACTIONS,
    PAPER_SPLIT_COUNTS,
    TASKS,
    JetSet,
    TaskJets,
    split,
    split_train_val,
    task_view,
)

__all__ = [
    "JetSet", "TaskJets", "TASKS", "PAPER_FRACTIONS", "PAPER_SPLIT_COUNTS", "task_view", "split",
    "split_train_val", "read_hls4ml", "resolve_files", "load_jets",
]
