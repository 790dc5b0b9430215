"""The whole study, stage by stage, each skipping what an earlier run already finished.

0. jets: hls4ml files or generated and cached; one seeded, stratified split for every task;
1. training: the Tune grid (or search); finished trials go to the store with their best-model files;
2. analyses: Ray remote tasks over the best models: test-set evaluation on every task, then the Hessian
   spectrum and trace, the pseudo-Goldstone scan along ν1 and the pT smearing sweep.

Every number lands in the Parquet store at ``<out>/store``; ``StudyOutcome`` says what ran and how long.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from raysym.data.jetset import split
from raysym.data.sources import study_jets
from raysym.generate.config import GeneratorConfig
from raysym.generate.detector import DetectorConfig
from raysym.ray_session import ensure_ray
from raysym.stages.analyses import run_analysis_stage
from raysym.stages.evaluate import run_evaluation_stage
from raysym.store import ResultStore
from raysym.study.collect import collect_results
from raysym.study.config import StudyConfig, validate
from raysym.study.training_stage import build_tuner

log = logging.getLogger(__name__)


@dataclass
class StudyOutcome:
    """What a run of the study did: where the store is, seconds per stage, counts, failed trials."""

    store_path: Path
    seconds: dict[str, float] = field(default_factory=dict)
    trained: int = 0
    evaluated: int = 0
    analysed: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _generator_config(config: StudyConfig) -> GeneratorConfig:
    data = config.data
    return GeneratorConfig(jets_per_class=data.jets_per_class, seed=data.generator_seed, classes=data.classes,
                           chunk_size=min(data.chunk_size, data.jets_per_class), mpi=data.mpi,
                           detector=DetectorConfig() if data.detector else None)


def study_data(config: StudyConfig, out_dir: Path, address: str | None = None, progress: bool = True):
    """Stage 0: the jets split once (seeded, stratified); train/val views of the training task."""
    data = config.data
    generated = out_dir / "data" / f"generated-{data.jets_per_class}-s{data.generator_seed}"
    jets = study_jets(data.hls4ml_dir, generated, _generator_config(config), address=address, progress=progress)
    parts = split(jets, seed=data.split_seed)
    for task in config.eval_tasks:
        parts["test"].for_task(task)  # a task without both classes fails now, not after training
    train_data = {name: parts[name].for_task(config.task) for name in ("train", "val")}
    return train_data, parts["test"]


def _grid_done(config: StudyConfig, store: ResultStore) -> bool:
    if config.search is not None:
        return False
    done = set(store.keys("trials"))
    return all(config.trial_id(b, s) in done for b in config.biases for s in config.seeds)


def _study_trials(config: StudyConfig, store: ResultStore):
    trials = store.load("trials")
    return trials[trials["study"] == config.name]


def run_study(config: StudyConfig, out_dir: str | Path, *, address: str | None = None, verbose: int = 1,
              progress: bool = True) -> StudyOutcome:
    """Run (or resume) ``config`` writing under ``out_dir``; validated before Ray starts."""
    validate(config, local=address is None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = ResultStore(out_dir / "store")
    outcome = StudyOutcome(store_path=out_dir / "store")
    ensure_ray(address)

    start = time.perf_counter()
    train_data, test_jets = study_data(config, out_dir, address, progress)
    outcome.seconds["data"] = time.perf_counter() - start

    start = time.perf_counter()
    if _grid_done(config, store):
        log.info("every trial of %s is in the store; no training", config.name)
    else:
        stored = set(store.keys("trials"))
        results = build_tuner(config, train_data, out_dir, verbose=verbose).fit()
        rows, outcome.errors = collect_results(results, store, config, out_dir / "models", skip=stored)
        outcome.trained = len(rows)
    outcome.seconds["training"] = time.perf_counter() - start

    start = time.perf_counter()
    new = run_evaluation_stage(store, _study_trials(config, store), test_jets, tasks=config.eval_tasks,
                               progress=progress)
    outcome.evaluated = 0 if new is None or len(new) == 0 else new["trial_id"].nunique()
    outcome.seconds["evaluation"] = time.perf_counter() - start

    start = time.perf_counter()
    outcome.analysed = run_analysis_stage(store, _study_trials(config, store), train_data["train"], test_jets,
                                          config.analyses, task=config.task, progress=progress)
    outcome.seconds["analyses"] = time.perf_counter() - start
    return outcome
