"""Ctrl-C at every stage of a study, timed: from SIGINT to the driver's exit, and the rerun that resumes it.

For each stage, ``studies/full.py --preset quick`` starts in a fresh output folder (the generated jets
copied in, except for the data stage, which must generate them), in its own process group with SIGINT at
its default; once a file shows the stage is under way, SIGINT goes to the whole group, as a terminal's
Ctrl-C does. Recorded: the seconds to the exit, the exit status, the stage the message names, and then
the rerun of the same command: its exit status and whether every table holds each row once. Writes
``bench/results/interrupt.md``; ``main()`` returns the numbers.

    python bench/interrupt.py                # all six stages (about 25 minutes on 2 cores)
    python bench/interrupt.py --stage training
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from raysym.store import ResultStore  # noqa: E402

#: Stage -> the sign that it is under way (a glob under the output folder, and how many matches).
TRIGGERS = {
    "data": ("data/generated-*/jetImage_*.h5", 1),
    "training": ("tune/quick-[0-9a-f]*/*/checkpoint_000001", 1),
    "evaluation": ("store/trials/*.parquet", 4),
    "analyses": ("store/evaluations/*.parquet", 4),
    "distillation": ("tune/quick-distill-*/*/checkpoint_000000", 1),
    "report": ("report/figures/*.png", 1),
}
#: Columns that identify a row of each table, to count rows stored twice.
ROW_KEYS = {"trials": ["trial_id"], "epochs": ["trial_id", "epoch"],
            "evaluations": ["trial_id", "task", "settings_key"],
            "hessian": ["trial_id", "k", "settings_key"], "smearing": ["trial_id", "task", "sigma", "settings_key"],
            "goldstone": ["trial_id", "direction", "epsilon", "settings_key"],
            "students": ["student_id", "settings_key"], "distillation": ["student_id", "epoch", "settings_key"]}


def command(out: Path) -> list[str]:
    return [sys.executable, str(ROOT / "studies" / "full.py"), "--preset", "quick", "--out", str(out)]


def interrupt(out: Path, stage: str, env: dict) -> dict:
    """One study interrupted once ``stage`` is under way; what the interruption did."""
    pattern, count = TRIGGERS[stage]
    log = open(f"{out}.log", "w")
    process = subprocess.Popen(command(out), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    begin = time.monotonic()
    while len(glob.glob(str(out / pattern))) < count:
        if process.poll() is not None:
            return {"stage": stage, "error": f"the study ended (status {process.returncode}) before {stage}"}
        time.sleep(0.05)
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    status = process.wait()
    seconds = time.monotonic() - sent
    log.close()
    text = Path(f"{out}.log").read_text()
    named = re.search(r"interrupted during (\w+)", text)
    return {"stage": stage, "after_s": sent - begin, "exit_s": seconds, "status": status,
            "named": named.group(1) if named else None, "resume_line": "Resume with the same command" in text}


def rerun(out: Path, env: dict) -> dict:
    """The same command again, to its end: its status and the rows stored more than once."""
    begin = time.monotonic()
    done = subprocess.run(command(out), cwd=ROOT, env=env, capture_output=True, text=True)
    store = ResultStore(out / "store")
    twice = {}
    for table, keys in ROW_KEYS.items():
        rows = store.load(table)
        if not rows.empty:
            twice[table] = int(rows.duplicated(subset=[k for k in keys if k in rows]).sum())
    return {"rerun_status": done.returncode, "rerun_s": time.monotonic() - begin,
            "rows_twice": sum(twice.values()), "tables": len(twice)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="append", choices=list(TRIGGERS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "interrupt.md"))
    args = parser.parse_args(argv)
    stages = args.stage or list(TRIGGERS)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAYSYM_CACHE_DIR": os.path.join(folder, "cache")}
        jets = None
        for stage in stages:
            out = Path(folder) / stage
            if stage != "data" and jets is not None:
                shutil.copytree(jets, out / "data")
            result = interrupt(out, stage, env)
            if "error" not in result:
                result.update(rerun(out, env))
                if jets is None:
                    jets = out / "data"
            results.append(result)
            print(result, flush=True)
    rows = [f"| {r['stage']} | {r.get('after_s', float('nan')):.1f} | {r.get('exit_s', float('nan')):.2f} | "
            f"{r.get('status', '—')} | {r.get('named') or '—'} | {r.get('rerun_status', '—')} | "
            f"{r.get('rerun_s', float('nan')):.1f} | {r.get('rows_twice', '—')} |" if "error" not in r
            else f"| {r['stage']} | {r['error']} |||||||" for r in results]
    text = "\n".join([
        "# Ctrl-C at every stage", "",
        f"Measured {datetime.date.today()} on this 2-core machine (`python bench/interrupt.py`): the quick preset, "
        "SIGINT to the driver's process group once the stage is under way, then the same command rerun to its "
        "end.", "",
        "| stage | SIGINT after (s) | SIGINT to exit (s) | exit status | stage named | rerun status | rerun (s) "
        "| rows stored twice |", "|---|---|---|---|---|---|---|---|", *rows, ""])
    Path(args.out).write_text(text)
    print(text)
    return {r["stage"]: {k: v for k, v in r.items() if k != "stage"} for r in results}


if __name__ == "__main__":
    main()
