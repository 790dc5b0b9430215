"""Seeds added until the question is settled: a study run in rounds, each adding seeds to every bias, until
every finding it targets is decided or the planned number of seeds (or the time) runs out.

Looking at the intervals after every round and stopping once they decide is a repeated test: read at the
same 95 % each time, the chance that some look shows an effect where there is none grows with the number
of looks. The design spends its error rate over the looks instead (Lan & DeMets 1983, with the
O'Brien–Fleming-like spending function α(t) = 2 − 2Φ(z₁₋α/₂ / √t)): the information fraction of a look
is t = n / n_max (seeds per bias so far over the planned maximum, fixed before the first look), and a look
reads its intervals at the level its share of α leaves, α(t_k) − α(t_{k−1}). By the union bound the
chance of any false decision over all looks stays below α, without the recursive integration an exact
group-sequential boundary needs; the price is that each look is a little stricter than it had to be.
Early looks spend almost nothing (an effect must be very clear to stop at n = 2), and the last look
spends most of α. Inside a look the report's own family rule (docs/methods.md §8) splits the look's α
over the findings. The rule is stated in the report and in docs/methods.md §8.

Each round is the same study with more seeds (``StudyConfig.seeds`` extended): its grid holds the earlier
trials, which the store already has, so only the new trials are trained, evaluated, analysed and
distilled; the rounds' intervals go to the store's ``rounds`` table, which the report draws against the
number of seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass, field

from scipy import stats

from raysym.errors import ConfigError, positive_int
from raysym.report.selection import select_run
from raysym.report.verdicts import NOT_RESOLVED, findings, verdicts
from raysym.settings_key import canonical, settings_key
from raysym.store import ResultStore
from raysym.study.config import StudyConfig
from raysym.study.pipeline import StudyOutcome, run_study


def spent(alpha: float, fraction: float) -> float:
    """α spent by information fraction ``fraction`` (0 < t ≤ 1) under the O'Brien–Fleming-like spending
    function of Lan & DeMets: 2 − 2Φ(z_{1−α/2} / √t); all of α at t = 1."""
    if fraction <= 0:
        return 0.0
    return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(min(fraction, 1.0))))


def look_alphas(alpha: float, seeds: list[int]) -> list[float]:
    """The α each look reads its intervals at, for looks after ``seeds`` seeds per bias (increasing, the
    last the planned maximum): the increments of :func:`spent`. They sum to ``alpha``."""
    if any(b <= a for a, b in zip(seeds, seeds[1:])):
        raise ConfigError(f"looks must be at increasing numbers of seeds, got {seeds}")
    fractions = [n / seeds[-1] for n in seeds]
    cumulative = [spent(alpha, t) for t in fractions]
    return [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:])]


@dataclass(frozen=True)
class SequentialDesign:
    """How seeds are added: from the study's own seeds, ``seeds_per_round`` more per bias each round, up to
    ``max_seeds`` per bias; a round is not started when ``time_budget_s`` would be exceeded by a round as
    long as the last. ``findings``: the finding keys that must be decided (empty: every finding the study
    measures); ``alpha``: the error rate over all looks and findings."""

    max_seeds: int
    seeds_per_round: int = 2
    alpha: float = 0.05
    time_budget_s: float | None = None
    findings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        positive_int("max seeds", self.max_seeds)
        positive_int("seeds per round", self.seeds_per_round)
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ConfigError(f"the time budget must be positive, got {self.time_budget_s}")

    def looks(self, first: int) -> list[int]:
        """Seeds per bias at each look: the study's own ``first``, then a round's worth more each time, the
        last at ``max_seeds``."""
        if self.max_seeds < first:
            raise ConfigError(f"--max-seeds {self.max_seeds} is fewer than the study's {first} seeds per bias")
        looks = list(range(first, self.max_seeds, self.seeds_per_round)) + [self.max_seeds]
        return sorted(set(looks))

    def seeds_at(self, seeds: tuple[int, ...], n: int) -> tuple[int, ...]:
        """The study's ``seeds`` extended to ``n`` per bias with the smallest integers not among them (the
        earlier seeds stay, so their trials are found in the store)."""
        extra = (seed for seed in itertools.count() if seed not in seeds)
        return tuple(seeds) + tuple(itertools.islice(extra, max(0, n - len(seeds))))


def paired_power(n: int, sd_diff: float, effect: float, alpha: float) -> float:
    """The exact power of the two-sided paired t test at level ``alpha`` with ``n`` seeds per bias, true
    effect ``effect`` and per-seed differences of spread ``sd_diff``: P(|T| > t_{1−α/2, n−1}) for T
    noncentral t with n − 1 degrees of freedom and noncentrality effect·√n / sd."""
    critical = stats.t.ppf(1 - alpha / 2, n - 1)
    shift = effect * math.sqrt(n) / sd_diff
    return float(stats.nct.sf(critical, n - 1, shift) + stats.nct.cdf(-critical, n - 1, shift))


def predicted_seeds(design: SequentialDesign, first: int, sd_diff: float, effect: float, family: int = 1,
                    power: float = 0.8) -> int | None:
    """The seeds per bias by which the design decides a paired finding of true size ``effect`` (on its test
    scale) with probability ``power``, given the spread ``sd_diff`` of the per-seed differences and
    ``family`` findings per look: the first look whose own level, α_k / family, has that power at its n
    (:func:`paired_power`; earlier looks only add to the chance of having decided by then). None if no look
    reaches it."""
    looks = design.looks(first)
    for n, alpha in zip(looks, look_alphas(design.alpha, looks)):
        if n >= 2 and paired_power(n, sd_diff, effect, alpha / family) >= power:
            return n
    return None


@dataclass
class Look:
    """One round: seeds per bias, the α its intervals were read at, its verdicts and its wall seconds."""

    seeds: int
    alpha: float
    verdicts: list
    seconds: float
    run_key: str | None = None

    def undecided(self, keys: tuple[str, ...] = ()) -> list[str]:
        """The targeted findings (``keys``; empty: all) still "not resolved". Any other outcome answers the
        question the study asks of it, "paper's size excluded, no effect resolved" included: the paper's
        effect does not hold at this scale (whether a smaller one does is a question for a larger study)."""
        return [v.key for v in self.verdicts if (not keys or v.key in keys) and v.outcome == NOT_RESOLVED]


@dataclass
class SequentialOutcome:
    """The looks taken, why the rounds stopped ("decided", "at the cap of N seeds", "time budget", "a trial
    failed") and the last run's study outcome."""

    looks: list[Look] = field(default_factory=list)
    stopped: str = ""
    last: StudyOutcome | None = None


def budget_allows(design: SequentialDesign, started: float, last_round_s: float) -> bool:
    """Whether another round as long as the last fits the time budget."""
    if design.time_budget_s is None:
        return True
    return time.monotonic() - started + last_round_s <= design.time_budget_s


def sequence_key(config: StudyConfig, design: SequentialDesign) -> str:
    """What identifies one sequential study: its settings but the seeds, and its design; every look of it
    carries this key in the ``rounds`` table."""
    return settings_key(canonical(dataclasses.replace(config, seeds=())), canonical(design))


def round_rows(config: StudyConfig, key: str, look_number: int, look: Look) -> list[dict]:
    """The ``rounds`` rows of one look: per finding, its interval and outcome at this look's α."""
    return [{"study": config.name, "sequence": key, "look": look_number, "seeds": look.seeds, "alpha": look.alpha,
             "run_key": look.run_key or "", "finding": v.key, "outcome": v.outcome, "scale": v.scale,
             "estimate": _number(v.estimate), "low": _number(v.low), "high": _number(v.high),
             "paper": _number(v.paper), "seconds": look.seconds} for v in look.verdicts]


def _number(value) -> float:
    return math.nan if value is None else float(value)


def run_until_decided(config: StudyConfig, out_dir: str, design: SequentialDesign, *, address: str | None = None,
                      verbose: int = 1, progress: bool = True, on_look=None) -> SequentialOutcome:
    """Run ``config``, then again with ``design.seeds_per_round`` more seeds per bias each round, until the
    targeted findings are decided, the seeds reach ``design.max_seeds`` or the time budget runs out.

    Each round is :func:`raysym.study.pipeline.run_study` of the grid with the seeds so far: trials already
    in the store are not trained again, so a round trains, measures and distils only its new seeds (and a
    rerun of a finished sequence redoes nothing). Each look's verdicts are read at its share of α
    (:func:`look_alphas`) and stored in the ``rounds`` table; ``on_look(look)`` is called after each.
    """
    known = [f.key for f in findings(config.data.spec.record)]
    unknown = sorted(set(design.findings) - set(known))
    if unknown:
        raise ConfigError(f"unknown finding(s) {', '.join(unknown)}; a study of data set {config.data.dataset!r} "
                          f"can test: {', '.join(known)}")
    seeds_per_look = design.looks(len(config.seeds))
    alphas = look_alphas(design.alpha, seeds_per_look)
    key = sequence_key(config, design)
    result, started = SequentialOutcome(), time.monotonic()
    for number, (n, alpha) in enumerate(zip(seeds_per_look, alphas), start=1):
        begin = time.monotonic()
        study = config.with_overrides(seeds=design.seeds_at(config.seeds, n))
        outcome = run_study(study, out_dir, address=address, verbose=verbose, progress=progress)
        result.last = outcome
        if outcome.run_key is None:
            result.stopped = "a trial failed"
            break
        run = select_run(outcome.store_path, study.name, outcome.run_key)
        look = Look(n, alpha, verdicts(run, alpha=alpha), time.monotonic() - begin, outcome.run_key)
        result.looks.append(look)
        ResultStore(outcome.store_path).write("rounds", round_rows(study, key, number, look),
                                             key=f"{study.name}-{key}-look{number}")
        if on_look is not None:
            on_look(look)
        if not look.undecided(design.findings):
            result.stopped = "decided"
            break
        if number == len(seeds_per_look):
            result.stopped = f"at the cap of {design.max_seeds} seeds per bias"
            break
        if not budget_allows(design, started, look.seconds):
            result.stopped = "the time budget"
            break
    return result
