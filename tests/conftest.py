"""Shared test fixtures: one local Ray per test session, and single-threaded torch.

``ray.init`` costs seconds, so every test that needs Ray shares one instance; with both cores busy,
torch's intra-op threads thrash, so tests run torch on one thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def ray_local():
    """A local two-CPU Ray whose workers can import raysym (installed, or via PYTHONPATH)."""
    import ray

    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"] = pythonpath
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def pytest_configure(config):
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def generated_g_w_jets(ray_local, tmp_path_factory):
    """3,000 physics jets (1,500 gluon, 1,500 W) from the offline generator, made once per session."""
    from raysym.generate.config import GeneratorConfig
    from raysym.stages.jets import JetSettings, study_jets

    out = tmp_path_factory.mktemp("generated-g-w")
    config = GeneratorConfig(jets_per_class=1500, seed=11, classes=("g", "w"), chunk_size=750)
    return study_jets(JetSettings(generator=config), out, progress=False)
