"""Connecting to Ray once, the same way for every stage (generator, Tune training, analyses).

Workers must be able to import raysym: it is installed, and for a source checkout the repository root
also goes on the workers' PYTHONPATH. Numerical libraries in workers run single-threaded unless a
stage says otherwise (two busy cores with multi-threaded torch thrash).
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[1]


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray: a running cluster at ``address``, or a new local one. True if this call started it.

    Token authentication is off for a local instance unless the caller set ``RAY_AUTH_MODE``.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return False
    pythonpath = os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")]))
    runtime_env = {"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}}
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    else:
        ray.init(address=address, runtime_env=runtime_env)
    return True
