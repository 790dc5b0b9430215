"""Seeds added until the question is settled (raysym.study.sequential): α spent over the looks, the error
rate it keeps and the power it reaches on simulated studies, and a real extended study that trains only
its new trials."""

from __future__ import annotations

import numpy as np
import pytest

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
    Returns, per study and finding, the look (seeds per bias) at which its interval first excluded 0 (None:
    never), and the share of studies with a false decision: an interval excluding 0 for a zero effect."""
    rng = np.random.default_rng(seed)
    looks = design.looks(first)
    alphas = look_alphas(design.alpha, looks)
    family = len(effects)
    decided_at, false = [], 0
    for _ in range(studies):
        diffs = rng.normal(effects, sd, size=(looks[-1], family))
        decided = [None] * family
        for n, alpha in zip(looks, alphas):
            level = statistics.family_level(alpha, family)
            for k in range(family):
                interval = statistics.paired(np.zeros(n), diffs[:n, k], level)
                if decided[k] is None and (interval.low > 0 or interval.high < 0):
                    decided[k] = n
            if all(d is not None for d in decided):
                break
        decided_at.append(decided)
        false += any(d is not None and e == 0 for d, e in zip(decided, effects))
    return decided_at, false / studies


def test_with_no_effect_false_decisions_stay_within_alpha_over_all_looks():
    design = SequentialDesign(max_seeds=10, seeds_per_round=2)
    studies = 2000
    _, false_rate = simulate(design, 2, [0.0, 0.0, 0.0], sd=1.0, studies=studies)
    assert false_rate <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / studies)


@pytest.mark.parametrize("effect,sd", [(np.log(0.079), 0.9), (0.1146, 0.06)])
def test_an_effect_of_the_papers_size_is_decided_by_the_predicted_seeds(effect, sd):
    """The paper's λ1 ratio on the log scale, and its g vs top ROC-AUC difference, with spreads of the size
    the laptop studies measure; two findings per look, each judged on its own."""
    design = SequentialDesign(max_seeds=12, seeds_per_round=2)
    predicted = predicted_seeds(design, 2, sd, effect, family=2)
    assert predicted is not None
    decided_at, _ = simulate(design, 2, [effect, effect], sd=sd, studies=1000)
    for k in range(2):
        assert np.mean([d[k] is not None and d[k] <= predicted for d in decided_at]) >= 0.8


@pytest.mark.slow
def test_an_extended_study_trains_only_its_new_trials_and_a_rerun_adds_nothing(study_jets_dir, tmp_path):
    """Two real looks and a rerun of both, about a minute: slow, run by CI after the README's command."""
    config = smoke(preset("quick")).with_overrides(name="sequence", data={"hls4ml_dir": study_jets_dir},
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
