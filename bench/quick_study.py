"""The README's CPU default, timed: ``python studies/full.py`` (quick preset) from an empty output folder.

Runs the command in a subprocess into a fresh folder (reusing the generated jets' cache would hide the
data stage, so the jets cache goes to a fresh folder too), reads the stage times the command prints, and
times the whole command; then reruns it to time a rerun that finds everything done. Writes
``bench/results/quick_study_times.md``; ``main()`` returns the numbers.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The quick study before issue 13 (bench/results/quick_study.md, measured 2026-11-24 at commit cccd262).
BEFORE = {"data": 48.2, "training": 65.6, "evaluation": 5.4, "analyses": 83.8, "distillation": 46.6, "report": 11.0,
          "total": 273.0}


def timed_study(out: str, env: dict, preset: str = "quick") -> tuple[float, dict[str, float]]:
    """Wall time of ``studies/full.py --preset PRESET --out OUT`` and the seconds per stage it printed."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "studies" / "full.py"), "--preset", preset, "--out", out],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"studies/full.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    line = next(line for line in done.stdout.splitlines() if line.startswith("seconds per stage:"))
    stages = {name: float(value) for name, value in re.findall(r"(\w+) ([\d.]+)", line.split(":", 1)[1])}
    report = re.search(r"figures and report \(([\d.]+) s\)", done.stdout)
    if report:
        stages["report"] = float(report.group(1))
    return wall, stages


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/quick_study_times.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAYSYM_CACHE_DIR": os.path.join(folder, "cache")}
        wall, stages = timed_study(os.path.join(folder, "quick"), env)
        rerun, _ = timed_study(os.path.join(folder, "quick"), env)
    stages["total"] = wall
    rows = [f"| {name} | {BEFORE.get(name, float('nan')):.1f} | {stages.get(name, float('nan')):.1f} |"
            for name in ("data", "training", "evaluation", "analyses", "distillation", "report", "total")]
    text = "\n".join([
        "# The quick study's stage times", "",
        f"Measured {datetime.date.today()} on this 2-core machine: `python studies/full.py` into an empty folder "
        "(`python bench/quick_study.py`). Before: bench/results/quick_study.md (2026-11-24, commit cccd262).", "",
        "| stage | before (s) | now (s) |", "|---|---|---|", *rows, "",
        f"A rerun of the same command, finding everything done: {rerun:.1f} s.", ""])
    Path(args.out).write_text(text)
    print(text)
    return {"stages": stages, "rerun_s": rerun}


if __name__ == "__main__":
    main()
