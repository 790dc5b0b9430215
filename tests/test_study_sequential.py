"""Seeds added until the question is settled (raysym.study.sequential): α spent over the looks, the error
rate it keeps and the power it reaches on simulated studies, and a real extended study that trains only
its new trials."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from raysym.errors import ConfigError
from raysym.report import statistics
from raysym.store import ResultStore
from raysym.study.presets import preset, smoke
from raysym.study.sequential import SequentialDesign, look_alphas, predicted_seeds, run_until_decided, spent


def test_the_looks_spend_alpha_in_increasing_shares_that_add_up_to_it():
    alphas = look_alphas(0.05, [2, 4, 6, 8])
    assert sum(alphas) == pytest.approx(0.05) and all(a > 0 for a in alphas)
    assert alphas == sorted(alphas)  # O'Brien–Fleming-like: early looks spend little
    assert spent(0.05, 0.25) < 1e-4 and spent(0.05, 1.0) == pytest.approx(0.05)


def test_looks_run_from_the_studys_seeds_by_rounds_to_the_cap():
    assert SequentialDesign(max_seeds=8).looks(2) == [2, 4, 6, 8]
    assert SequentialDesign(max_seeds=7, seeds_per_round=2).looks(2) == [2, 4, 6, 7]
    assert SequentialDesign(max_seeds=3, seeds_per_round=1).seeds_at((5, 0), 3) == (5, 0, 1)
    with pytest.raises(ConfigError, match="--max-seeds 1 is fewer than the study's 2 seeds"):
        SequentialDesign(max_seeds=1).looks(2)
    with pytest.raises(ConfigError, match="seeds per round must be a positive integer"):
        SequentialDesign(max_seeds=4, seeds_per_round=0)


def simulate(design: SequentialDesign, first: int, effects: list[float], sd: float, studies: int, seed: int = 1):
    """Simulated sequential studies of len(effects) paired findings (one family per look) with per-seed
    differences drawn from N(effect, sd²), each study stopping once every finding's interval excludes 0.
    Returns, per study and finding, the look (seeds per bias) at which its interval first excluded 0 (NaN:
    never), and the share of studies with a false decision: an interval excluding 0 for a zero effect.

    The intervals are the paired t intervals of raysym.report.statistics.paired (checked against scipy there),
    written out over all studies at once; each look's level is the design's: its share of α
    (:func:`look_alphas`) split over the findings by :func:`statistics.family_level`."""
    rng = np.random.default_rng(seed)
    looks = design.looks(first)
    family = len(effects)
    diffs = rng.normal(effects, sd, size=(studies, looks[-1], family))
    decided = np.full((studies, family), np.nan)
    for n, alpha in zip(looks, look_alphas(design.alpha, looks)):
        level = statistics.family_level(alpha, family)
        mean, sem = diffs[:, :n].mean(axis=1), diffs[:, :n].std(axis=1, ddof=1) / np.sqrt(n)
        half = stats.t.ppf(0.5 + level / 2, n - 1) * sem
        excluded = (mean - half > 0) | (mean + half < 0)
        running = ~np.all(np.isfinite(decided), axis=1)[:, None]  # a study stops once all are decided
        decided = np.where(np.isnan(decided) & excluded & running, n, decided)
    false = np.any(np.isfinite(decided) & (np.asarray(effects) == 0), axis=1).mean()
    return decided, false


def test_the_simulated_intervals_are_the_reports_own():
    sample = np.random.default_rng(3).normal(0.4, 1.0, size=6)
    interval = statistics.paired(np.zeros(6), sample, 0.99)
    half = stats.t.ppf(0.995, 5) * sample.std(ddof=1) / np.sqrt(6)
    assert (interval.low, interval.high) == pytest.approx((sample.mean() - half, sample.mean() + half))


def test_with_no_effect_false_decisions_stay_within_alpha_over_all_looks():
    design = SequentialDesign(max_seeds=10, seeds_per_round=2)
    studies = 20_000
    _, false_rate = simulate(design, 2, [0.0, 0.0, 0.0], sd=1.0, studies=studies)
    assert false_rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / studies)


@pytest.mark.parametrize("effect,sd", [(np.log(0.079), 0.9), (0.1146, 0.06)])
def test_an_effect_of_the_papers_size_is_decided_by_the_predicted_seeds(effect, sd):
    """The paper's λ1 ratio on the log scale, and its g vs top ROC-AUC difference, with spreads of the size
    the laptop studies measure; two findings per look, each judged on its own."""
    design = SequentialDesign(max_seeds=12, seeds_per_round=2)
    predicted = predicted_seeds(design, 2, sd, effect, family=2)
    assert predicted is not None
    decided, _ = simulate(design, 2, [effect, effect], sd=sd, studies=10_000)
    for k in range(2):
        assert np.mean(decided[:, k] <= predicted) >= 0.8


@pytest.mark.slow
def test_an_extended_study_trains_only_its_new_trials_and_a_rerun_adds_nothing(study_jets_dir, tmp_path):
    """Two real looks and a rerun of both, about a minute: slow, run by CI after the README's command."""
    config = smoke(preset("quick")).with_overrides(name="sequence", data={"path": study_jets_dir},
                                                   distillation={"enabled": False}, seeds=(0,))
    design = SequentialDesign(max_seeds=2, seeds_per_round=1, findings=("lambda1", "trace"))
    trained = []
    first = run_until_decided(config, str(tmp_path), design, verbose=0, progress=False,
                              on_look=lambda look: trained.append(look))
    assert [look.seeds for look in first.looks] == [1, 2]
    store = ResultStore(tmp_path / "store")
    trials = store.load("trials")
    assert sorted(trials["seed"]) == [0, 0, 1, 1]
    rounds = store.load("rounds")
    assert sorted(set(rounds["look"])) == [1, 2] and set(rounds["seeds"]) == {1, 2}
    assert first.stopped in ("decided", "at the cap of 2 seeds per bias")
    again = run_until_decided(config, str(tmp_path), design, verbose=0, progress=False)
    assert again.last.trained == 0 and len(store.load("trials")) == 4
    assert len(store.load("rounds")) == len(rounds)
