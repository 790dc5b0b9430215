"""What each laptop preset costs on this machine, whole, and a projection of it on cluster.yaml's workers.

Runs ``python studies/full.py --preset P --quiet --out <empty folder>`` for each preset named (one after
another, each a fresh process and a fresh local Ray), and writes one table: wall seconds, the study's own
seconds per stage, trials and analysed models, and the load average before and after (other work on the
machine lengthens a run; the table says how busy it was).

The cluster column is a projection, not a measurement: each stage's 2-core seconds divided by the
parallelism the cluster adds to it, ``min(units, cluster CPUs) / min(units, 2)``, where units are the
stage's independent pieces (trials for training and distillation, models for evaluation and analyses; the
data stage's generator tasks are 24 for every laptop preset) and the cluster's CPUs are cluster.yaml's GPU
workers at their ``max_workers`` (4 × 4). It assumes work spreads perfectly and GPUs do not speed a laptop
preset's small models (they would, somewhat), and leaves out node start-up (minutes, see
bench/results/cluster.md).

    python bench/preset_costs.py quick lambda-scan dual asha trajectory --out bench/results/preset_costs.md
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
GENERATOR_TASKS = 24


def cluster_cpus(path: Path = REPO / "cluster.yaml") -> int:
    """CPUs of cluster.yaml's GPU workers at their largest count."""
    spec = yaml.safe_load(path.read_text())
    total = 0
    for node in spec["available_node_types"].values():
        resources = node.get("resources") or {}
        if resources.get("GPU", 0) > 0:
            total = max(total, int(resources.get("CPU", 0)) * int(node.get("max_workers", spec.get("max_workers", 1))))
    return total


def run_preset(name: str) -> dict:
    """One whole run of preset ``name`` into an empty folder: wall seconds, stage seconds, counts, load."""
    out = Path(tempfile.mkdtemp(prefix=f"preset-{name}-"))
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "studies/full.py", "--preset", name, "--quiet", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    wall = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    if done.returncode != 0:
        raise SystemExit(f"preset {name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    stages = dict(re.findall(r"(\w+) ([\d.]+)", done.stdout.split("seconds per stage:")[1].splitlines()[0]))
    counts = re.search(r"(\d+) trial\(s\) trained, (\d+) evaluated, (\d+) student", done.stdout)
    shutil.rmtree(out, ignore_errors=True)
    return {"preset": name, "wall": wall, "stages": {k: float(v) for k, v in stages.items()},
            "trials": int(counts[1]), "models": int(counts[2]), "students": int(counts[3]),
            "load": (load_before, load_after), "lines": len(done.stdout.splitlines())}


def projected(result: dict, cpus: int) -> float:
    """The run's seconds on the cluster under the module's projection: each stage spread over the cluster,
    the rest of the run (Ray's start, imports, figures and report) as measured; no node start-up."""
    units = {"data": GENERATOR_TASKS, "training": result["trials"], "evaluation": result["models"],
             "analyses": result["models"], "distillation": max(result["students"], 1)}
    total = result["wall"] - sum(result["stages"].values())
    for stage, seconds in result["stages"].items():
        n = max(units.get(stage, 1), 1)
        total += seconds * min(n, 2) / min(n, cpus)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "preset_costs.md"))
    args = parser.parse_args()
    cpus = cluster_cpus()
    rows = []
    for name in args.presets:
        result = run_preset(name)
        rows.append(result)
        print(f"{name}: {result['wall']:.0f} s", flush=True)
    lines = [f"# Each laptop preset on this machine (2 cores), and projected on cluster.yaml ({cpus} worker CPUs)",
             "", f"Measured {time.strftime('%Y-%m-%d')} with `python bench/preset_costs.py {' '.join(args.presets)}`"
             " (each preset a fresh process into an empty folder, `--quiet`). The projection is the module "
             "docstring's model: stages spread perfectly, no GPU speed-up, no node start-up.", "",
             "| preset | wall s (2 cores) | data | training | evaluation | analyses | distillation | trials | "
             "models | projected s on the cluster | load avg before → after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["stages"]
        lines.append(f"| {r['preset']} | {r['wall']:.0f} | " + " | ".join(f"{s.get(k, 0.0):.1f}" for k in (
            "data", "training", "evaluation", "analyses", "distillation"))
            + f" | {r['trials']} | {r['models']} | {projected(r, cpus):.0f} | {r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
