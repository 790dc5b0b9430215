"""A smoke study's output with two runs of one study, laid out as ``raysym-runs/quick``, for the tests of the
results API (tests/test_results.py) and of the example notebook (tests/test_examples.py): made once per test
session, whichever of them asks first.

The first run evaluates with other settings (20 ROC points) and keeps no per-jet scores; the second, the
latest, is the smoke quick study as ``python studies/full.py --smoke-test --keep-scores`` runs it. They share
their trials, jets and analyses and differ in their evaluation rows: what a results API restricted to one
run must tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raysym.study.pipeline import StudyOutcome, run_study
from raysym.study.presets import preset, smoke


@dataclass(frozen=True)
class TwoRuns:
    out: Path  # the study's folder (``raysym-runs/quick``); the store is ``out/store``
    plain: StudyOutcome  # 20 ROC points, no scores
    scored: StudyOutcome  # the default evaluation, with scores: the latest run

    @property
    def store(self) -> str:
        return str(self.out / "store")


#: Every smoke study made this session, by the folder it was made under.
_MADE: dict[str, TwoRuns] = {}


def two_run_study(tmp_path_factory) -> TwoRuns:
    """The session's two-run smoke study (needs a running Ray: the ``ray_local`` fixture)."""
    root = str(tmp_path_factory.getbasetemp())
    if root not in _MADE:
        out = tmp_path_factory.mktemp("results-study") / "raysym-runs" / "quick"
        config = smoke(preset("quick"))
        plain = run_study(config.with_overrides(evaluation={"roc_points": 20}), out, verbose=0, progress=False)
        scored = run_study(config.with_overrides(evaluation={"keep_scores": True}), out, verbose=0, progress=False)
        assert not plain.errors and not scored.errors, plain.errors + scored.errors
        _MADE[root] = TwoRuns(out, plain, scored)
    return _MADE[root]
