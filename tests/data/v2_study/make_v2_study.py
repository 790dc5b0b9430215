"""Make the v2_study fixture: jets and the output folder of a tiny smoke study written by commit 8a38186.

Run it with the code of 8a38186, not the working tree's: from a worktree of that commit, with PYTHONPATH
exported (Ray workers see only an exported PYTHONPATH):

    git -C /work/main worktree add --detach /tmp/v2fixture/src 8a38186
    export PYTHONPATH=/tmp/v2fixture/src RAY_AUTH_MODE=disabled
    cd /tmp && python /work/main/tests/data/v2_study/make_v2_study.py jets /tmp/v2fixture/jets
    cd /tmp && python /work/main/tests/data/v2_study/make_v2_study.py study /tmp/v2fixture/jets /tmp/v2fixture/out

``jets DIR`` writes the generated hls4ml files; ``study JETS OUT`` runs (or reruns) the study on them and
prints the outcome, the store's schema file and its row counts. Both check that raysym is imported from the
worktree, here and in a Ray worker. See MADE.md for what of OUT the fixture keeps.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

TABLES = ("studies", "trials", "epochs", "evaluations", "roc", "checkpoints", "hessian", "spectrum", "goldstone",
          "smearing", "symmetry", "students", "distillation")


def start_ray():
    import ray

    pythonpath = os.environ.get("PYTHONPATH", "")
    assert "v2fixture" in pythonpath or os.environ.get("V2_ANY_CODE"), "PYTHONPATH must point at the 8a38186 worktree"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}})
    worker_file = ray.get(ray.remote(num_cpus=1)(_raysym_file).remote())
    print("raysym in a Ray worker from", worker_file)
    assert os.environ.get("V2_ANY_CODE") or worker_file.startswith(pythonpath.split(os.pathsep)[0] + os.sep), \
        worker_file
    return ray


def _raysym_file() -> str:
    import raysym

    return raysym.__file__


def make_jets(out_dir: str) -> None:
    from raysym.generate.chunks import generate
    from raysym.generate.config import GeneratorConfig

    ray = start_ray()
    try:
        generate(GeneratorConfig(jets_per_class=40, seed=5, classes=("g", "w", "z", "t"), chunk_size=40), out_dir,
                 progress=False)
    finally:
        ray.shutdown()


def run(jets: str, out: str):
    from raysym.store import ResultStore
    from raysym.study.pipeline import run_study
    from raysym.study.presets import preset, smoke

    config = smoke(preset("quick")).with_overrides(name="v2", data={"hls4ml_dir": jets}, analyse_checkpoints="every:1")
    ray = start_ray()
    try:
        outcome = run_study(config, out, verbose=0, progress=False)
    finally:
        ray.shutdown()
    print("OUTCOME", outcome)
    store = ResultStore(outcome.store_path)
    print("SCHEMA", store.schema_version(), store._schema())
    for table in TABLES:
        try:
            print("TABLE", table, len(store.load(table)))
        except Exception as error:  # noqa: BLE001 - a report, not a check
            print("TABLE", table, "error", error)
    return outcome


if __name__ == "__main__":
    import raysym
    import torch

    torch.set_num_threads(1)
    print("raysym from", raysym.__file__)
    assert os.environ.get("V2_ANY_CODE") or raysym.__file__.startswith(
        os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] + os.sep), "raysym is not the worktree's"
    if sys.argv[1] == "jets":
        make_jets(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3])
