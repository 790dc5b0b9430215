"""Benchmark of the offline jet generator (docs/methods.md §1.3): jets/s per core per class, and Ray fan-out speed-up.

1. One process, one core: for each class, a seeded ``JetMaker`` (MPI on, detector on) makes a few
   hundred jets; Pythia's initialisation is timed apart from the steady-state rate.
2. Fan-out: the same job (every class, several chunks) through ``raysym.generate.generate`` on a local
   Ray with 1 CPU, then 2 CPUs, each in a fresh subprocess; Ray start-up and worker warm-up are timed
   apart from the job itself.

Writes ``bench/results/generator.md``. Usage: ``python bench/generator.py [--jets 400] [--quick]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "generator.md"

_FANOUT_CHILD = r"""
import json, os, sys, tempfile, time
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
import ray
from raysym.generate.config import GeneratorConfig
from raysym.generate.chunks import generate
from raysym.ray_session import ensure_ray

cpus, jets, chunk = (int(x) for x in sys.argv[1:4])
t0 = time.perf_counter()
ensure_ray(num_cpus=cpus)

@ray.remote(num_cpus=1)
def warm():
    import pythia8mc, fastjet, raysym.generate.events  # noqa: F401
    time.sleep(0.5)
    return os.getpid()

ray.get([warm.remote() for _ in range(cpus)])
t1 = time.perf_counter()
config = GeneratorConfig(jets_per_class=jets, seed=1, chunk_size=chunk)
with tempfile.TemporaryDirectory() as out:
    generate(config, out, progress=False)
    t2 = time.perf_counter()
ray.shutdown()
print(json.dumps({"cpus": cpus, "startup_s": t1 - t0, "job_s": t2 - t1,
                  "jets": jets * len(config.classes), "tasks": config.n_chunks() * len(config.classes)}))
"""


def per_class(n_jets: int) -> list[dict]:
    """Steady-state jets/s of one core per class (MPI on, detector on), plus Pythia init time."""
    from raysym.generate.events import JetMaker
    from raysym.generate.processes import chunk_seeds

    rows = []
    for name in ("g", "q", "w", "z", "t"):
        t0 = time.perf_counter()
        maker = JetMaker(name, *chunk_seeds(2024, name, 0))
        t1 = time.perf_counter()
        jets = events = 0
        while jets < n_jets:
            jets += len(maker.next_jets(100))
            events += 100
        t2 = time.perf_counter()
        rows.append({"class": name, "jets": jets, "events": events, "init_s": t1 - t0, "run_s": t2 - t1,
                     "jets_per_s": jets / (t2 - t1)})
        print(f"{name}: {jets / (t2 - t1):.0f} jets/s ({jets} jets, {events} events), init {t1 - t0:.2f} s",
              flush=True)
    return rows


def fanout(cpus: int, jets: int, chunk: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(_FANOUT_CHILD)
        out = subprocess.run([sys.executable, str(script), str(cpus), str(jets), str(chunk)], env=env,
                             check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    print(f"fan-out on {cpus} CPU(s): {result['job_s']:.1f} s for {result['jets']} jets "
          f"({result['tasks']} tasks), Ray start-up {result['startup_s']:.1f} s", flush=True)
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_report(rows: list[dict], runs: list[dict], load: tuple[float, ...], repeats: int) -> None:
    import awkward
    import fastjet
    import pythia8mc
    import ray

    one, two = runs
    speedup = one["job_s"] / two["job_s"]
    lines = [
        "# Offline jet generator benchmark",
        "",
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}",
        f"- pythia8mc {pythia8mc.__version__ if hasattr(pythia8mc, '__version__') else '8.317'}, "
        f"fastjet {fastjet.__version__}, awkward {awkward.__version__}, ray {ray.__version__}",
        "- settings: 13 TeV, pTHatMin 900 GeV, MPI on, parametric detector on (docs/methods.md §1.3 defaults), anti-kT "
        "R = 0.8, 0.8 < pT/TeV < 1.2, |η| < 2, truth-matched with contained decays, q = u/d/s only",
        "- command: `python bench/generator.py`",
        f"- load average when it started (1/5/15 min): {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} "
        "(the machine is shared; other work running at the same time lowers the numbers)",
        "",
        "## Jets per second, one core (steady state, Pythia init excluded)",
        "",
        "| class | jets/s | jets per event | jets | Pythia init (s) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['class']} | {r['jets_per_s']:.0f} | {r['jets'] / r['events']:.2f} | {r['jets']} "
                     f"| {r['init_s']:.2f} |")
    lines += [
        "",
        "An earlier measurement on this kind of machine (MPI on, q including c and b) gave g 115, q 117, "
        "W 147, Z 210, t 130 jets/s; the q class here keeps only light quarks (about 95 % of the QCD quark jets).",
        "",
        "## Ray fan-out, same job on 1 and 2 CPUs",
        "",
        f"Job: {one['jets']} jets (all five classes), {one['tasks']} tasks (one per class × chunk, each with "
        "its own seeded Pythia, init included). Ray start-up and worker warm-up are excluded and listed "
        f"apart. Best of {repeats} interleaved runs per CPU count.",
        "",
        "| Ray CPUs | job wall time (s) | jets/s | Ray start-up + warm-up (s) |",
        "|---|---|---|---|",
    ]
    for r in runs:
        lines.append(f"| {r['cpus']} | {r['job_s']:.1f} | {r['jets'] / r['job_s']:.0f} | {r['startup_s']:.1f} |")
    lines += ["", f"Speed-up 2 vs 1 CPU: **{speedup:.2f}×** (ideal 2×).", "",
              "Chunks of 100 jets keep this benchmark short; each task then spends about half a second of "
              "its time in Pythia's initialisation, so the fan-out rate per CPU is below the steady-state "
              "rate above. Real runs use the default `--chunk-size 1000`, where init is ~5 % of a task.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=400, help="jets per class for the per-core rate")
    parser.add_argument("--fanout-jets", type=int, default=300, help="jets per class in the fan-out job")
    parser.add_argument("--chunk", type=int, default=100, help="jets per chunk in the fan-out job")
    parser.add_argument("--repeats", type=int, default=2, help="fan-out runs per CPU count (best kept)")
    parser.add_argument("--quick", action="store_true", help="smoke test: few jets, no report")
    args = parser.parse_args(argv)
    if args.quick:
        per_class(20)
        fanout(1, 10, 5)
        return
    load_before = os.getloadavg()
    rows = per_class(args.jets)
    # Interleaved repeats, best of each: other processes on a shared machine only ever slow a run down.
    trials = [fanout(cpus, args.fanout_jets, args.chunk) for _ in range(args.repeats) for cpus in (1, 2)]
    runs = [min((t for t in trials if t["cpus"] == cpus), key=lambda t: t["job_s"]) for cpus in (1, 2)]
    write_report(rows, runs, load_before, args.repeats)
    return {"jets_per_s_per_core": {r["class"]: r["jets_per_s"] for r in rows},
            "fanout_jets_per_s": {r["cpus"]: r["jets"] / r["job_s"] for r in runs},
            "fanout_speedup": runs[0]["job_s"] / runs[1]["job_s"]}


if __name__ == "__main__":
    main()
