"""Jet data: data sets as declarations (their classes, tasks and readers), the in-memory jet set, and its
on-disk cache."""

from raysym.data.cache import load_jets
from raysym.data.hls4ml_reader import read_hls4ml, resolve_files
from raysym.data.jetset import (
    PAPER_FRACTIONS,
    PAPER_SPLIT_COUNTS,
    JetSet,
    TaskJets,
    split,
    split_train_val,
    task_view,
)
from raysym.data.tasks import TaskSpec

__all__ = [
    "JetSet", "TaskJets", "TaskSpec", "PAPER_FRACTIONS", "PAPER_SPLIT_COUNTS", "task_view", "split",
    "split_train_val", "read_hls4ml", "resolve_files", "load_jets",
]
