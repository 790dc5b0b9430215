"""What a study will take before it starts: disk at its output location, memory on this machine, tasks.

A study of impossible size used to start anyway and fail late, or never: ``--epochs 1000000000`` trained
until the disk filled, ``--jets-per-class 100000000`` queued millions of generation tasks while the
driver's memory grew until it was killed. So the study adds up what each stage will write and hold, from
the model sizes and the settings alone, and refuses one that cannot fit, in one error that says what is
too large and what it needs, before Ray starts.

The sizes per item are measured (2026-12-07, this project's CPU machine; docs/methods.md §5):
a training checkpoint holds 16 bytes per parameter (weights, Adam's two moments and the best weights,
float32) and 82 kB more (20.17 MB for the 1,255,425-parameter paper teacher), and 153 bytes per epoch of
history; a
best-model file or a ν1 vector 4 bytes per parameter; a generated jet 7.5 kB on disk (gluons, the largest;
tops 7.2 kB) and 573 bytes in the jet cache; the history 744 bytes per epoch in a trial's memory. The
in-memory jets are counted four times (the set, its split, the training tensors and their copy in Ray's
object store), which is an accounting of the copies, not a measurement. An estimate is not an exact
figure: the check refuses what is plainly impossible, it does not promise that a study just under the
line fits.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from raysym.errors import ConfigError
from raysym.models.registry import build_model, count_parameters
from raysym.stages.checkpoint_pruning import KEEP_CHECKPOINTS

#: Bytes of a training checkpoint per model parameter (float32 weights, Adam's two moments, best weights),
#: and its fixed part, the record of each tensor (measured: 82 kB for the paper teacher, 42 kB for the
#: smoke test's).
CHECKPOINT_BYTES_PER_PARAMETER = 16
CHECKPOINT_FIXED_BYTES = 100_000
#: Bytes a training checkpoint grows by per epoch of history (measured: 153).
CHECKPOINT_BYTES_PER_EPOCH = 160
#: Bytes of a weights-only file (best model, kept epoch, ν1 vector) per parameter (float32).
WEIGHTS_BYTES_PER_PARAMETER = 4
#: Bytes of a generated jet's file (measured: 7.5 kB for gluons, 7.2 kB for tops) and of its cached copy.
GENERATED_BYTES_PER_JET = 7_500
CACHED_BYTES_PER_JET = 573
#: Bytes of one jet as the driver holds it (32 constituents × (4 float32 + a bool mask), the label and
#: the jet's pT, η, m) and how many copies of the jets it holds at once.
JET_BYTES = 32 * 17 + 13
JET_COPIES = 4
#: Bytes a row of the store's per-epoch tables takes, and a file's fixed cost (measured: 12 kB for a file
#: of 8 epoch rows).
ROW_BYTES = 200
FILE_BYTES = 16_000
#: Bytes of history per epoch in a running trial's memory (measured: 744).
HISTORY_MEMORY_PER_EPOCH = 750
#: Most generation tasks one study may queue: each is one Ray task the driver tracks; a larger run needs a
#: larger chunk size, not more chunks.
MAX_GENERATION_TASKS = 100_000
#: Figures and the report (measured: 1.5 MB for the smoke study; twice that leaves room for a larger grid).
REPORT_BYTES = 3_000_000


@dataclass
class Footprint:
    """What a study needs: bytes at its output location by item, bytes in this machine's memory (the
    driver's jets, and one trial's history), and generation tasks."""

    disk: dict[str, float] = field(default_factory=dict)
    driver_memory: float = 0.0
    trial_memory: float = 0.0
    generation_tasks: int = 0

    @property
    def disk_total(self) -> float:
        return sum(self.disk.values())

    def describe_disk(self) -> str:
        largest = sorted(self.disk.items(), key=lambda item: -item[1])[:3]
        return ", ".join(f"{name} {gigabytes(size)}" for name, size in largest)


def gigabytes(size: float) -> str:
    return f"{size / 1e9:.3g} GB"


def checkpoint_bytes(parameters: int, epochs: int) -> float:
    """Bytes of one training checkpoint of a model with ``parameters`` after ``epochs`` epochs."""
    return parameters * CHECKPOINT_BYTES_PER_PARAMETER + CHECKPOINT_FIXED_BYTES + epochs * CHECKPOINT_BYTES_PER_EPOCH


def _parameters(model: str, model_preset: str, options) -> int:
    return count_parameters(build_model(model, model_preset, **dict(options)))


def estimate(config, n_jets: int) -> Footprint:
    """The footprint of ``config`` (a :class:`raysym.study.config.StudyConfig`) on ``n_jets`` jets."""
    trials = list(config.trials(data_key="").values())
    if config.training.search is not None:
        trials = trials * config.training.search.num_samples
    sizes: dict[tuple, int] = {}

    def parameters(run) -> int:
        key = (run.model, run.model_preset, tuple(sorted(run.model_options.items())))
        if key not in sizes:
            sizes[key] = _parameters(run.model, run.model_preset, run.model_options)
        return sizes[key]

    found = Footprint()
    generated = config.data.path is None
    if generated:
        generator = config.data.generator
        found.disk["generated jets"] = n_jets * GENERATED_BYTES_PER_JET
        found.generation_tasks = generator.n_chunks() * len(generator.classes)
    found.disk["jet cache"] = n_jets * CACHED_BYTES_PER_JET
    found.driver_memory = n_jets * JET_BYTES * JET_COPIES

    keep = config.checkpoints
    kept_per_trial = 0 if keep.every is None else config.recipe.epochs // keep.every
    checkpoints = models = rows = analysed = 0.0
    for run in trials:
        size = parameters(run)
        checkpoint = checkpoint_bytes(size, run.epochs)
        checkpoints += (KEEP_CHECKPOINTS + 1) * checkpoint
        models += (1 + kept_per_trial) * size * WEIGHTS_BYTES_PER_PARAMETER
        rows += run.epochs * ROW_BYTES + FILE_BYTES
        analysed += (1 + kept_per_trial) * (1 + config.analyses.deflation_rank) * size * WEIGHTS_BYTES_PER_PARAMETER
        found.trial_memory = max(found.trial_memory, run.epochs * HISTORY_MEMORY_PER_EPOCH)
    found.disk["training checkpoints"] = checkpoints
    found.disk["models"] = models
    found.disk["epoch rows"] = rows
    found.disk["Hessian vectors"] = analysed
    if config.distillation.enabled:
        students = list(config.distillation.students(config.model_options).values()) * len(trials)
        found.disk["students"] = sum((KEEP_CHECKPOINTS + 1) * checkpoint_bytes(parameters(s), s.epochs)
                                     + parameters(s) * WEIGHTS_BYTES_PER_PARAMETER for s in students)
        found.disk["teacher logits"] = len(trials) * n_jets * 4
        found.trial_memory = max([found.trial_memory, *(s.epochs * HISTORY_MEMORY_PER_EPOCH for s in students)])
    found.disk["report"] = REPORT_BYTES
    return found


def jets_of(config) -> int:
    """How many jets the study reads: the generator's count, or what the data set's files hold (read from their
    headers, no data)."""
    if config.data.path is None:
        return config.data.generator.jets_per_class * len(config.data.generator.classes)
    return config.data.spec.count(config.data.path)


def folder_bytes(path: str) -> int:
    """Bytes of the files already below ``path`` (a rerun's earlier results count towards its footprint)."""
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def available_memory() -> float | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not every system reports it
        return None


def check_footprint(config, out_dir: str, *, local_disk: bool, local_ray: bool) -> Footprint:
    """Refuse, in one ``ConfigError``, a study that cannot fit: more generation tasks than
    :data:`MAX_GENERATION_TASKS`; jets the driver cannot hold in this machine's free memory; and, when the
    output is a local folder (``local_disk``), more than its disk's free space (less what an earlier run
    already wrote there); and, on a local Ray (``local_ray``), a trial whose history outgrows this
    machine's memory. Returns the estimate."""
    found = estimate(config, jets_of(config))
    if found.generation_tasks > MAX_GENERATION_TASKS:
        raise ConfigError(f"generating {config.data.generator.jets_per_class:,} jets per class in chunks of "
                          f"{config.data.generator.chunk_size:,} is {found.generation_tasks:,} tasks, more than "
                          f"the {MAX_GENERATION_TASKS:,} a study queues; use fewer jets or a larger chunk size")
    memory = available_memory()
    if memory is not None and found.driver_memory > memory:
        raise ConfigError(f"the study's jets need about {gigabytes(found.driver_memory)} of memory on this machine, "
                          f"which has {gigabytes(memory)} free; use fewer jets")
    if memory is not None and local_ray and found.trial_memory > memory:
        raise ConfigError(f"{config.recipe.epochs:,} epochs need about {gigabytes(found.trial_memory)} of memory "
                          f"for each trial's history, and this machine has {gigabytes(memory)} free; use fewer epochs")
    if local_disk:
        free = shutil.disk_usage(out_dir).free + folder_bytes(out_dir)
        if found.disk_total > free:
            raise ConfigError(f"the study needs about {gigabytes(found.disk_total)} at {out_dir} "
                              f"({found.describe_disk()}), and its disk has {gigabytes(free)} free; free some "
                              "space, use another --out, or shrink the study (epochs, jets, seeds)")
    return found
