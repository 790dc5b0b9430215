"""The smoke study from scratch with its output in a local folder or in an S3 bucket, one process per run,
for an A/B timing of the two (whole-process medians in bench/results/cluster.md).

    python bench/study_storage.py local     # --out a new temporary folder
    python bench/study_storage.py s3        # --out s3://<new bucket>/study on a loopback S3 server

The S3 server is moto's (the one the tests use), started by this script on 127.0.0.1: it speaks the
real protocol, but it is a Python server on the same two cores, so the ratio bounds what S3 costs a
study here rather than measuring AWS. Prints the study's own seconds on its last line.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(where: str) -> int:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    server = None
    with tempfile.TemporaryDirectory(prefix="raysym-bench-") as folder:
        if where == "s3":
            from tests.s3_server import start_s3_server

            server = start_s3_server()
            os.environ.update(server.env, RAYSYM_CACHE_DIR=folder)
            out = f"s3://{server.bucket()}/study"
        elif where == "local":
            out = str(Path(folder) / "study")
        else:
            raise SystemExit("usage: study_storage.py local|s3")
        sys.path.insert(0, str(REPO / "studies"))
        import full

        try:
            start = time.perf_counter()
            code = full.main(["--smoke-test", "--out", out])
            print(f"study {where}: {time.perf_counter() - start:.1f} s (exit {code})")
        finally:
            if server is not None:
                server.stop()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "local"))
