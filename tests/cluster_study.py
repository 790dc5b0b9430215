"""A study driver for the cluster tests: the smoke study with settings from the command line, joined to a
running cluster, as its own process (so a test can kill it, and so its Ray session is not the test's).

    python tests/cluster_study.py ADDRESS OUT '{"recipe": {"epochs": 30}}'

The third argument is ``StudyConfig.with_overrides`` keywords as JSON. Exits 0 when nothing failed; the
outcome is printed as JSON on a line starting with ``OUTCOME`` (worker logs interleave with the rest).
"""

from __future__ import annotations

import json
import sys

from raysym.study.pipeline import run_study
from raysym.study.presets import preset, smoke


def main(address: str, out: str, overrides: str = "{}") -> int:
    config = smoke(preset("quick")).with_overrides(**json.loads(overrides))
    outcome = run_study(config, out, address=address, verbose=0, progress=False)
    print("OUTCOME " + json.dumps({"trained": outcome.trained, "trial_ids": outcome.trial_ids,
                                   "analysed": outcome.analysed,
                                   "errors": outcome.errors, "seconds": outcome.seconds}), flush=True)
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
