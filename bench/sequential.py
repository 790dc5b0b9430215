"""The quick study with seeds added until decided, timed: ``studies/full.py --until-decided`` from an empty
folder, each look's outcomes and intervals, the wall time per added seed pair, the paired-seed
correlations, and when the λ1 and Tr(H) findings were first decided.

    python bench/sequential.py                       # quick preset, 2 seeds, up to 8 per bias
    python bench/sequential.py --max-seeds 6

Writes ``bench/results/sequential.md``; ``main()`` returns the numbers.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raysym.report.selection import select_run  # noqa: E402
from raysym.report.verdicts import NOT_MEASURED, NOT_RESOLVED, verdicts  # noqa: E402
from raysym.store import ResultStore  # noqa: E402

#: Findings whose first decision is timed (the issue's goal: both decided within 15 minutes on 2 cores).
TIMED = ("lambda1", "trace")


def interval_text(row) -> str:
    if not (math.isfinite(row["low"]) and math.isfinite(row["high"])):
        return f"{row['outcome']} (no interval)"
    return f"{row['outcome']}: {row['estimate']:.3g} [{row['low']:.3g}, {row['high']:.3g}]"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-seeds", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sequential.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAYSYM_CACHE_DIR": os.path.join(folder, "cache")}
        out = os.path.join(folder, "quick")
        begin = time.perf_counter()
        done = subprocess.run([sys.executable, str(ROOT / "studies" / "full.py"), "--out", out, "--until-decided",
                               "--max-seeds", str(args.max_seeds)], cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - begin
        if done.returncode != 0:
            raise SystemExit(f"studies/full.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
        rounds = ResultStore(os.path.join(out, "store")).load("rounds").sort_values(["look", "finding"])
        last = select_run(os.path.join(out, "store"))
        final = {v.key: v for v in verdicts(last)}
        looks = rounds.groupby("look", sort=True)
        table, elapsed, first_decided = [], 0.0, {}
        for look, own in looks:
            seconds = float(own["seconds"].iloc[0])
            elapsed += seconds
            for _, row in own.iterrows():
                if row["finding"] in TIMED and row["outcome"] not in (NOT_RESOLVED, NOT_MEASURED) \
                        and row["finding"] not in first_decided:
                    first_decided[row["finding"]] = (int(row["seeds"]), elapsed)
            table.append((int(look), int(own["seeds"].iloc[0]), float(own["alpha"].iloc[0]), seconds,
                          {row["finding"]: interval_text(row) for _, row in own.iterrows()}))
    findings = list(dict.fromkeys(rounds["finding"]))
    # A look after the first trains its added seeds only: its seconds per seed, times two, is a seed pair's.
    per_pair = [later[3] * 2 / (later[1] - earlier[1]) for earlier, later in zip(table, table[1:])]
    decided = [key for key, v in final.items() if v.outcome not in (NOT_RESOLVED, NOT_MEASURED)]
    lines = ["# The quick study, seeds added until decided", "",
             f"Measured {datetime.date.today()} on this 2-core machine: `python studies/full.py --until-decided "
             f"--max-seeds {args.max_seeds}` (quick preset: 2 seeds per bias, rounds of 2) from an empty folder "
             f"(`python bench/sequential.py`). Wall time {wall:.0f} s; seeds stopped being added: "
             + next((line.split(": ", 1)[1] for line in done.stdout.splitlines()
                     if line.startswith("seeds stopped being added")), "?") + ".", "",
             "| look | seeds per bias | α of the look | seconds | " + " | ".join(findings) + " |",
             "|---|---|---|---|" + "---|" * len(findings)]
    for look, seeds, alpha, seconds, cells in table:
        lines.append(f"| {look} | {seeds} | {alpha:.2g} | {seconds:.0f} | "
                     + " | ".join(cells.get(f, "—") for f in findings) + " |")
    lines += ["", "Each cell: the look's outcome, the estimate (SEAL − unconstrained, or SEAL / unconstrained for "
                  "λ1 and Tr(H)) and its simultaneous interval at the look's α (docs/methods.md §8).", "",
              "Wall time per round of two added seeds per bias (four trials, trained and measured): "
              + (", ".join(f"{s:.0f} s" for s in per_pair) if per_pair else "no seeds were added") + ".", "",
              "Paired-seed correlations at the last look (Pearson, SEAL against unconstrained over shared seeds): "
              + ", ".join(f"{key} r = {final[key].correlation:.2f} (n = {final[key].n_a})"
                          for key in ("lambda1", "trace", "auc_g_vs_w", "auc_g_vs_z", "auc_g_vs_t")
                          if key in final and final[key].correlation is not None
                          and math.isfinite(final[key].correlation)) + ".", "",
              "First decided (any outcome but not resolved, from the empty folder): "
              + ", ".join(f"{key} at {seeds} seeds per bias after {seconds:.0f} s"
                          for key, (seeds, seconds) in first_decided.items()) + ".", "",
              "Decided at the last look: " + ", ".join(f"{key} ({final[key].outcome})" for key in decided) + ".",
              "Not resolved at the last look: "
              + ", ".join(key for key, v in final.items() if v.outcome == NOT_RESOLVED) + ".", ""]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return {"wall_s": wall, "looks": [(seeds, seconds) for _, seeds, _, seconds, _ in table],
            "first_decided": first_decided, "decided": decided}


if __name__ == "__main__":
    main()
