"""Where a study's jets come from: the user's hls4ml files, or jets generated here (SPEC §1.2–1.3).

One function, so the study script, notebooks and tests get the same answer to "which jets?": with
``data`` given, its hls4ml files are read; without, the offline generator fills ``generated_dir``
(skipping chunks already there) and the same reader loads its files. Both go through the jet cache.
"""

from __future__ import annotations

from pathlib import Path

from raysym.data.cache import load_jets
from raysym.data.jetset import JetSet
from raysym.generate.config import GeneratorConfig
from raysym.generate.fanout import generate


def study_jets(
    data: str | Path | None,
    generated_dir: str | Path,
    generator: GeneratorConfig,
    *,
    address: str | None = None,
    progress: bool = True,
) -> JetSet:
    """The user's hls4ml jets from ``data`` if given, else ``generator``'s jets made in ``generated_dir``."""
    if data is not None:
        return load_jets(data)
    paths = generate(generator, generated_dir, address=address, progress=progress)
    return load_jets(paths, cache_dir=Path(generated_dir) / ".raysym-cache")
