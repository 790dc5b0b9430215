"""Stage 0 of a study: its jets — the user's files of a declared data set, or jets generated here — split once.

One place answers "which jets?" for the study script, notebooks and tests: with ``path`` set, the files of
the data set ``dataset`` (a :class:`~raysym.data.dataset_spec.DatasetSpec`: hls4ml, toptag, atlas-top,
jetclass or one a user registers) are read by its reader; without, the offline generator fills
``<out>/data/generated-…`` (skipping chunks already there; on a cluster an object-store location,
downloaded once into a local mirror) in the data set's layout — hls4ml's, or the top-tagging data set's for
a top-vs-QCD study — and its reader loads those files (docs/methods.md §1.2–1.3). Both go through the jet
cache.
The jets are then split once, seeded and class-stratified with the paper's fractions (§1.1), after checking
that every class the tasks use has enough jets for train, val and test each to hold one.
Nothing here needs a running Ray for the user's files: the study may run this stage before starting Ray,
so a bad file is one error before any cluster work (generation starts and stops its own Ray).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

from raysym.artifacts import cache_root, is_uri, join, local_copy, normalise
from raysym.data.cache import load_jets
from raysym.data.datasets import dataset as dataset_spec
from raysym.data.jetset import JetSet, TaskJets, check_splittable, split
from raysym.errors import ConfigError
from raysym.generate.chunks import LAYOUTS, check_layout, generate
from raysym.generate.config import GeneratorConfig
from raysym.paths import writable_dir
from raysym.settings_key import settings_key

#: The environment variable that moves :func:`raysym.artifacts.cache_root`, named in its errors.
CACHE_DIR_VARIABLE = "RAYSYM_CACHE_DIR"

#: Fewest generated jets per class a study accepts: fewer cannot put every class into train, val and test.
MIN_JETS_PER_CLASS = 10


@dataclass(frozen=True)
class JetSettings:
    """Where a study's jets come from, and how they are split.

    ``dataset`` names the registered data set whose files ``path`` holds (a folder, or one file).
    ``generator`` describes the jets made here when ``path`` is None (in the hls4ml layout); by default the
    classes the study's three tasks need (g, W, Z, top), 3,000 of each. ``split_seed`` seeds the
    train/val/test split.
    """

    path: str | None = None
    dataset: str = "hls4ml"
    generator: GeneratorConfig = GeneratorConfig(jets_per_class=3000, classes=("g", "w", "z", "t"))
    split_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError(f"data set must be named by a non-empty string, got {self.dataset!r}")
        if not isinstance(self.generator, GeneratorConfig):
            raise ConfigError(f"data generator settings must be a GeneratorConfig, got {type(self.generator).__name__}")
        if self.path is None and self.generator.jets_per_class < MIN_JETS_PER_CLASS:
            raise ConfigError(f"a study needs at least {MIN_JETS_PER_CLASS} generated jets per class (so train, "
                              f"validation and test each hold every class), got {self.generator.jets_per_class}")
        if not isinstance(self.split_seed, int) or self.split_seed < 0:
            raise ConfigError(f"split seed must be a non-negative integer, got {self.split_seed!r}")

    @property
    def spec(self):
        """The declaration of the data set (a ``ConfigError`` listing the registered ones if unknown)."""
        return dataset_spec(self.dataset)

    def check(self, tasks: Sequence[str]) -> None:
        """Fail now, not after a cluster starts, if the jets cannot serve ``tasks``: tasks the data set does
        not declare, its files missing or malformed (every header is checked, no jets are read), or generator
        settings without a class the tasks need."""
        spec = self.spec
        specs = [spec.task(task) for task in tasks]
        if self.path is not None:
            spec.inspect(self.path)
            return
        if spec.name not in LAYOUTS:
            raise ConfigError(f"data set {spec.name!r} needs its files (--data PATH): jets are generated in the "
                              f"{' and '.join(LAYOUTS)} layouts only")
        check_layout(self.generator, spec.name)  # the classes the layout holds (top-tagging: q and/or g, and t)
        if spec.name != "hls4ml":
            return
        missing = sorted({c for task in specs for c in task.classes} - set(self.generator.classes))
        if missing:
            raise ConfigError(f"the tasks need jet classes {','.join(missing)} that the data settings do not generate")


def generated_dir(settings: JetSettings, out_dir: str | Path) -> str:
    """Where the study's generated jets live: ``<out>/data/generated-<jets per class>-s<seed>`` (a local
    folder, or a location in the study's object store)."""
    generator = settings.generator
    layout = "" if settings.dataset == "hls4ml" else f"{settings.dataset}-"
    return join(out_dir, "data", f"generated-{layout}{generator.jets_per_class}-s{generator.seed}")


def mirror_root() -> Path:
    """The local folder for copies of remote jet files (:func:`raysym.artifacts.cache_root`), created and
    checked writable: a ``$RAYSYM_CACHE_DIR`` that is a file, or under one, is one ``ConfigError`` naming
    the variable and the path, not a ``NotADirectoryError`` after generation."""
    what = (f"{CACHE_DIR_VARIABLE} =" if os.environ.get(CACHE_DIR_VARIABLE)
            else f"the local cache folder (set {CACHE_DIR_VARIABLE} to choose another)")
    try:
        return writable_dir(cache_root(), what)
    except ConfigError as err:
        raise ConfigError(f"{err}; it must be a folder this process can write, for local copies of the "
                          "study's generated jets") from None


def check_jet_locations(settings: JetSettings, out_dir: str | Path) -> None:
    """Fail before any work if a folder the jets stage will write to cannot be used: today the local
    mirror of generated jets that live in an object store (the only use of ``$RAYSYM_CACHE_DIR``)."""
    if settings.path is None and is_uri(generated_dir(settings, out_dir)):
        mirror_root()


def local_jet_files(locations: Sequence[str], folder: str) -> tuple[list[Path], Path]:
    """The jet files as local files the reader can open, and the folder for the jet cache beside them.

    Local files are read where they are. Files in an object store (written there by generation tasks on
    whichever nodes ran them) are downloaded once into a local mirror (:func:`mirror_root`) kept between
    runs, so a rerun on the same machine reads them from disk.
    """
    if not is_uri(folder):
        return [Path(p) for p in locations], Path(folder)
    mirror = mirror_root() / "mirror" / settings_key(normalise(folder))
    return [local_copy(location, mirror) for location in locations], mirror


def study_jets(settings: JetSettings, out_dir: str | Path, *, address: str | None = None,
               progress: bool = True) -> JetSet:
    """The user's jets if ``settings`` name files, else the generator's jets made under ``out_dir``."""
    if settings.path is not None:
        return load_jets(settings.path, dataset=settings.spec)
    folder = generated_dir(settings, out_dir)
    written = generate(settings.generator, folder, address=address, progress=progress, layout=settings.dataset)
    paths, local = local_jet_files(written, folder)
    return load_jets(paths, cache_dir=local / ".raysym-cache", dataset=settings.spec)


class StudyJets(NamedTuple):
    """What stage 0 hands on: the training task's train/val views, every task's test jets, and the key
    of the jets and their split (part of every trial's identity)."""

    train_data: dict[str, TaskJets]
    test: JetSet
    key: str


def run_jets_stage(settings: JetSettings, out_dir: str | Path, task: str, eval_tasks: Sequence[str], *,
                   address: str | None = None, progress: bool = True) -> StudyJets:
    """Stage 0: the jets split once for all tasks, as :class:`StudyJets`.

    The split is made once for all tasks, so the test jets of ``g_vs_w`` are the same whichever task a
    model trained on; a class a task uses with too few jets for train, val and test fails here, before
    training (and an unusable cache folder before generation). The key covers the jets' content (not their
    file names) and the split seed.
    """
    check_jet_locations(settings, out_dir)
    jets = study_jets(settings, out_dir, address=address, progress=progress)
    check_splittable(jets, list(dict.fromkeys([task, *eval_tasks])))
    parts = split(jets, seed=settings.split_seed)
    for name in eval_tasks:
        parts["test"].for_task(name)
    train_data = {name: parts[name].for_task(task) for name in ("train", "val")}
    return StudyJets(train_data, parts["test"], settings_key(jets.fingerprint(), settings.split_seed))
