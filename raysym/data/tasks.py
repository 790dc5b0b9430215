"""What a jet set's labels mean: its classes and its binary tasks, each with a role (docs/methods.md §1.1).

A task is a set of signal classes against a set of background classes, e.g. top against QCD, or a W
against a gluon. Its role says what the study learns from it: the models train on the *in-distribution*
task; a *near* out-of-distribution task has a signal like the training signal (the paper's gluon vs Z
for models trained on gluon vs W), a *far* one a signal unlike it (gluon vs top). The evaluation scores
every task, and the report and its verdicts read the roles: an out-of-distribution finding is stated
only for a data set that declares such a task.

These are plain frozen data, carried by every :class:`~raysym.data.jetset.JetSet`, so a Ray worker that
scores jets needs no registry of data sets. The hls4ml classes and tasks (Glowacki §3.1) are the
defaults, as the generated jets use them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

from raysym.errors import ConfigError

#: A task's role: its key, and how the report names it.
ROLES: dict[str, str] = {"in": "in distribution", "near": "near out of distribution",
                         "far": "far out of distribution"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class TaskSpec:
    """One binary task: jets of ``signal`` classes (target 1) against jets of ``background`` classes
    (target 0), with its ``role`` (a key of :data:`ROLES`) and a short ``title`` for figures."""

    name: str
    signal: tuple[str, ...]
    background: tuple[str, ...]
    role: str
    title: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "signal", tuple(self.signal))
        object.__setattr__(self, "background", tuple(self.background))
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"task name {self.name!r} must be letters, digits, '_', '.', '-'")
        if not self.signal or not self.background:
            raise ConfigError(f"task {self.name!r} needs at least one signal and one background class")
        shared = sorted(set(self.signal) & set(self.background))
        if shared:
            raise ConfigError(f"task {self.name!r} has class(es) {', '.join(shared)} as signal and background")
        if self.role not in ROLES:
            raise ConfigError(f"task {self.name!r}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not self.title:
            object.__setattr__(self, "title", f"{'+'.join(self.background)} vs {'+'.join(self.signal)}")

    @property
    def classes(self) -> tuple[str, ...]:
        """Every class the task uses, background first."""
        return self.background + self.signal

    @property
    def label(self) -> str:
        """How a figure names it: its title and role, e.g. ``g vs W (in distribution)``."""
        return f"{self.title} ({ROLES[self.role]})"


def check_tasks(classes: Sequence[str], tasks: Sequence[TaskSpec], where: str) -> None:
    """``tasks`` fit ``classes``: distinct class and task names, every class a task uses among them, and
    exactly one in-distribution task (the one the models train on). One ``ConfigError`` naming ``where``."""
    if not classes or len(set(classes)) != len(classes):
        raise ConfigError(f"{where}: classes must be distinct and at least one, got {list(classes)}")
    names = [task.name for task in tasks]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: task names given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    for task in tasks:
        unknown = sorted(set(task.classes) - set(classes))
        if unknown:
            raise ConfigError(f"{where}: task {task.name!r} uses class(es) {', '.join(unknown)}, not among "
                              f"{', '.join(classes)}")
    inside = [task.name for task in tasks if task.role == "in"]
    if len(inside) != 1:
        raise ConfigError(f"{where}: needs exactly one in-distribution task, got {inside or 'none'}")


def find_task(tasks: Sequence[TaskSpec], name: str, where: str = "the jets") -> TaskSpec:
    """The task called ``name``, or a ``ConfigError`` listing those ``where`` declares."""
    for task in tasks:
        if task.name == name:
            return task
    raise ConfigError(f"unknown task {name!r}; {where} declare(s): {', '.join(t.name for t in tasks)}")


#: The hls4ml data set's classes in label order (gluon, light quark, W, Z, top): its one-hot columns.
HLS4ML_CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")
#: Glowacki's tasks (§3.1, Tables 1 and 3): trained on gluon vs W, tested also on gluon vs Z and vs top.
HLS4ML_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("g_vs_w", ("w",), ("g",), "in", "g vs W"),
    TaskSpec("g_vs_z", ("z",), ("g",), "near", "g vs Z"),
    TaskSpec("g_vs_t", ("t",), ("g",), "far", "g vs top"),
)
check_tasks(HLS4ML_CLASSES, HLS4ML_TASKS, "the hls4ml data set")


@dataclass(frozen=True)
class DatasetRecord:
    """What a study's ``studies`` row records about its jets' data set: its name, classes, tasks and whether
    its jets are weighted. The report reads the tasks and their roles from it, so a store opened later
    needs no registered declaration."""

    name: str
    classes: tuple[str, ...]
    tasks: tuple[TaskSpec, ...]
    weighted: bool = False

    def to_json(self) -> str:
        return json.dumps({"name": self.name, "classes": list(self.classes), "weighted": self.weighted,
                           "tasks": [{"name": t.name, "signal": list(t.signal), "background": list(t.background),
                                      "role": t.role, "title": t.title} for t in self.tasks]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "DatasetRecord":
        values = json.loads(text)
        return cls(values["name"], tuple(values["classes"]), tuple(TaskSpec(**t) for t in values["tasks"]),
                   bool(values.get("weighted", False)))

    def task(self, name: str) -> TaskSpec:
        return find_task(self.tasks, name, f"data set {self.name!r}")

    def by_role(self, role: str) -> tuple[TaskSpec, ...]:
        """Its tasks of ``role`` ("in", "near", "far"), in declaration order."""
        return tuple(t for t in self.tasks if t.role == role)

    @property
    def ood(self) -> tuple[TaskSpec, ...]:
        """Its out-of-distribution tasks, near before far."""
        return self.by_role("near") + self.by_role("far")


#: The hls4ml data set's record: what a store written before data sets were recorded holds.
HLS4ML_RECORD = DatasetRecord("hls4ml", HLS4ML_CLASSES, HLS4ML_TASKS)
