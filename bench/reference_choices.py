"""The quick study with today's choices against the SEAL reference code's: what the jet axis and dropout move.

Runs ``studies/full.py --preset quick`` twice on the same generated jets and seeds: once as the quick preset
is (Δη against the jet's rapidity, no dropout), once with ``--jet-axis pseudorapidity --dropout 0.1`` (the
reference code's choices, which the paper preset takes). Per bias it reports ROC-AUC, λ1, Tr(H) and the
learned symmetry violation with their 95 % t intervals over seeds, and the paired (same seed: same initial
weights, batches and boosts) change from today's to the reference choices, with Bonferroni-simultaneous
intervals over the whole family of changes; and each run's verdicts.

    python bench/reference_choices.py                 # seeds 0 1 2
    python bench/reference_choices.py --seeds 0 1 2 3

Writes ``bench/results/reference_choices.md``; ``main()`` returns the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raysym.report import statistics, summaries  # noqa: E402
from raysym.report.selection import select_run  # noqa: E402
from raysym.report.verdicts import verdicts  # noqa: E402

CHOICES = {"today": [], "reference": ["--jet-axis", "pseudorapidity", "--dropout", "0.1"]}
#: (label, how a change is read: "ratio" on the log scale, "difference" otherwise)
MEASURES = {"ROC-AUC g vs W": "difference", "λ1": "ratio", "Tr(H)": "ratio", "symmetry violation": "difference"}


def per_trial(run) -> pd.DataFrame:
    """One row per trial: bias, seed and the four measures."""
    trials = run.table("trials")[["trial_id", "seed"]]
    evaluations = run.table("evaluations")
    auc = evaluations[evaluations["task"] == "g_vs_w"][["trial_id", "bias", "roc_auc"]]
    curvature = summaries.curvature(run)[["trial_id", "lambda1", "trace"]]
    symmetry = summaries.symmetry_violation(run, "boost")
    symmetry = symmetry[symmetry["best"]][["trial_id", "violation"]]
    rows = auc.merge(trials, on="trial_id").merge(curvature, on="trial_id").merge(symmetry, on="trial_id")
    return rows.rename(columns={"roc_auc": "ROC-AUC g vs W", "lambda1": "λ1", "trace": "Tr(H)",
                                "violation": "symmetry violation"}).sort_values(["bias", "seed"])


def mean_interval(values) -> str:
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = values.mean()
    if n < 2:
        return f"{mean:.4g} (n = 1)"
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return f"{mean:.4g} [{mean - half:.4g}, {mean + half:.4g}]"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "reference_choices.md"))
    parser.add_argument("--smoke-test", action="store_true", help="the studies shrunk to seconds (checks this script)")
    args = parser.parse_args(argv)
    seeds = [str(s) for s in args.seeds]
    runs, walls = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAYSYM_CACHE_DIR": os.path.join(folder, "cache")}
        for name, flags in CHOICES.items():
            out = os.path.join(folder, name)
            begin = time.perf_counter()
            done = subprocess.run([sys.executable, str(ROOT / "studies" / "full.py"), "--out", out, "--seeds", *seeds,
                                   *flags, *(["--smoke-test"] if args.smoke_test else [])], cwd=ROOT, env=env, capture_output=True, text=True)
            walls[name] = time.perf_counter() - begin
            if done.returncode != 0:
                raise SystemExit(f"studies/full.py {' '.join(flags)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
            runs[name] = select_run(os.path.join(out, "store"))
        tables = {name: per_trial(run) for name, run in runs.items()}
        found = {name: {v.key: v for v in verdicts(run)} for name, run in runs.items()}
    biases = sorted(tables["today"]["bias"].unique())
    family = len(biases) * len(MEASURES)
    level = statistics.family_level(0.05, family)
    lines = ["# The quick study: today's choices against the SEAL reference code's", "",
             f"Measured {datetime.date.today()} on this 2-core machine (`python bench/reference_choices.py`): the "
             f"quick preset (small teacher, 12 epochs, 3,000 generated jets per class) at seeds {', '.join(seeds)}, "
             "twice on the same jets: as the preset is (Δη against the jet's rapidity, no dropout) and with "
             "`--jet-axis pseudorapidity --dropout 0.1` (the reference code's choices, which the paper preset "
             "takes). Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()) + " (the first run "
             "includes generating the jets).", "",
             "## Each choice, per bias: mean over seeds [95 % t interval, df = n − 1]", "",
             "| bias | choices | " + " | ".join(MEASURES) + " |", "|---|---|" + "---|" * len(MEASURES)]
    for bias in biases:
        for name, table in tables.items():
            rows = table[table["bias"] == bias]
            lines.append(f"| {bias} | {name} | " + " | ".join(mean_interval(rows[m]) for m in MEASURES) + " |")
    lines += ["", "## The change from today's choices to the reference's, paired by seed", "",
              f"Reference − today (ratio reference / today for λ1 and Tr(H), from the per-seed log ratios). "
              f"Simultaneous intervals over the family of {family} changes: each at level {level:.4f} "
              f"(Bonferroni, α = 0.05), df = n − 1 = {len(seeds) - 1}.", "",
              "| bias | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    changes = {}
    for bias in biases:
        cells = []
        for measure, scale in MEASURES.items():
            a = tables["today"][tables["today"]["bias"] == bias].set_index("seed")[measure]
            b = tables["reference"][tables["reference"]["bias"] == bias].set_index("seed")[measure]
            a, b = a.align(b, join="inner")
            if len(a) < 2:
                cells.append("— (fewer than 2 shared seeds)")
                continue
            if scale == "ratio":
                iv = statistics.log_ratio(a.to_numpy(), b.to_numpy(), level)
                text = f"×{math.exp(iv.estimate):.3g} [{math.exp(iv.low):.3g}, {math.exp(iv.high):.3g}]"
            else:
                iv = statistics.paired(a.to_numpy(), b.to_numpy(), level)
                text = f"{iv.estimate:+.4g} [{iv.low:+.4g}, {iv.high:+.4g}]"
            changes[(bias, measure)] = iv
            cells.append(f"{text}, p = {iv.p:.2g}")
        lines.append(f"| {bias} | " + " | ".join(cells) + " |")
    keys = list(dict.fromkeys(k for found_ in found.values() for k in found_))
    lines += ["", "p: unadjusted two-sided paired t test of no change.", "",
              "## The verdicts of each run (SEAL λ = 0.1 against the unconstrained teacher; docs/methods.md §8)", "",
              "| finding | " + " | ".join(found) + " |", "|---|" + "---|" * len(found)]
    for key in keys:
        cells = []
        for name in found:
            v = found[name].get(key)
            if v is None:
                cells.append("—")
            elif math.isfinite(v.low) and math.isfinite(v.high):
                cells.append(f"{v.outcome}: {v.estimate:.3g} [{v.low:.3g}, {v.high:.3g}]")
            else:
                cells.append(v.outcome)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("")
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return {"walls": walls, "tables": tables, "changes": changes}


if __name__ == "__main__":
    main()
