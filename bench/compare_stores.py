"""Compare two result stores table by table: the same rows with the same numbers, bit for bit.

A change that must not move any number (a refactor, a faster fan-out) is checked by running the same
study before and after it into two stores and comparing them. Columns that hold wall times, file paths
or Ray node ids differ between any two runs and are left out; everything else must be equal exactly
(floats compared bitwise, NaN equal to NaN). Rows are matched by each table's key columns, not by the
order they were written in.

    python bench/compare_stores.py BEFORE/store AFTER/store [--out bench/results/FILE.md] [--ignore-keys]

``--ignore-keys`` compares stores made before and after trial ids gained their settings key
(``teacher-s0`` vs ``teacher-s0-1a2b3c4d5e``): the key suffixes are stripped and the key columns left out.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from raysym.store import ResultStore

#: Columns that change from run to run without any number changing.
VOLATILE = frozenset({"epoch_seconds", "jets_per_second", "seconds", "node_id", "model_path", "checkpoint_path",
                      "nu1_path", "finished_at"})
#: Columns that only name settings (compared only without --ignore-keys).
KEY_COLUMNS = frozenset({"settings_key", "data_key", "experiment"})
_KEY_SUFFIX = re.compile(r"-[0-9a-f]{10}$")
#: The columns that identify a row of each table (beyond the study).
ROW_KEYS = {"trials": ["trial_id"], "epochs": ["trial_id", "epoch"], "evaluations": ["trial_id", "task"],
            "roc": ["trial_id", "task", "fpr", "tpr"], "hessian": ["trial_id", "k"],
            "goldstone": ["trial_id", "direction", "epsilon"], "smearing": ["trial_id", "sigma", "task"]}


def same_column(a: pd.Series, b: pd.Series) -> bool:
    """Exactly equal values (NaN equals NaN); floats bitwise via their repr."""
    return a.equals(b) or (a.astype(str) == b.astype(str)).all()


def compare_table(before: pd.DataFrame, after: pd.DataFrame, table: str) -> dict:
    """Rows, compared columns, and which columns differ (or are on one side only)."""
    columns = sorted((set(before.columns) | set(after.columns)) - VOLATILE)
    one_side = [c for c in columns if c not in before.columns or c not in after.columns]
    shared = [c for c in columns if c not in one_side]
    keys = [k for k in ["study", *ROW_KEYS.get(table, [])] if k in shared]
    before = before.sort_values(keys or shared).reset_index(drop=True)
    after = after.sort_values(keys or shared).reset_index(drop=True)
    differ = shared if len(before) != len(after) else [c for c in shared if not same_column(before[c], after[c])]
    return {"table": table, "rows": (len(before), len(after)), "columns": len(shared), "differ": differ,
            "one_side": one_side, "values": len(before) * len(shared)}


def _without_keys(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in KEY_COLUMNS if c in frame.columns and c != "settings_key"])
    if "trial_id" in frame:
        frame = frame.assign(trial_id=frame["trial_id"].map(lambda t: _KEY_SUFFIX.sub("", t)))
    return frame


def compare(before: str, after: str, ignore_keys: bool = False, tables: list[str] | None = None) -> list[dict]:
    a, b = ResultStore(before), ResultStore(after)
    names = tables or sorted(set(a.tables()) | set(b.tables()))
    results = []
    for table in names:
        x, y = a.read(table), b.read(table)
        if ignore_keys:
            x, y = _without_keys(x), _without_keys(y)
            if table in ("trials", "evaluations", "roc"):  # settings keys these tables did not carry before
                x, y = (f.drop(columns=["settings_key"], errors="ignore") for f in (x, y))
        results.append(compare_table(x, y, table))
    return results


def report(results: list[dict], before: str, after: str) -> str:
    lines = [f"Stores compared: `{before}` (before) and `{after}` (after); volatile columns left out: "
             f"{', '.join(sorted(VOLATILE))}.", "",
             "| table | rows before / after | columns compared | values compared | result |", "|---|---|---|---|---|"]
    for r in results:
        verdict = "identical" if not r["differ"] and not r["one_side"] else \
            f"differ: {', '.join(r['differ'] + [c + ' (one side)' for c in r['one_side']])}"
        lines.append(f"| {r['table']} | {r['rows'][0]} / {r['rows'][1]} | {r['columns']} | {r['values']} | {verdict} |")
    lines += ["", f"Values compared in all: {sum(r['values'] for r in results)}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--ignore-keys", action="store_true", help="strip settings keys from trial ids first")
    parser.add_argument("--tables", nargs="+", help="only these tables (default: every table of either store)")
    args = parser.parse_args(argv)
    results = compare(args.before, args.after, args.ignore_keys, args.tables)
    text = report(results, args.before, args.after)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if all(not r["differ"] and not r["one_side"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
