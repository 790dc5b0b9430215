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
def s3(tmp_path_factory):
    """A loopback S3 server (moto's, in its own process) for the whole session, with this process's AWS
    environment pointing at it, so every pyarrow filesystem made here, in Ray workers and in child
    processes reaches it; stopped, and the environment restored, at the end."""
    from tests.s3_server import start_s3_server

    server = start_s3_server()
    saved = {name: os.environ.get(name) for name in server.env}
    os.environ.update(server.env)
    # Copies of remote artifacts (generated jets) go to this session's folder, not the user's cache.
    saved["RAYSYM_CACHE_DIR"] = os.environ.get("RAYSYM_CACHE_DIR")
    os.environ["RAYSYM_CACHE_DIR"] = str(tmp_path_factory.mktemp("raysym-cache"))
    yield server
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def ray_local(s3):
    """A local two-CPU Ray whose workers can import raysym (installed, or via PYTHONPATH) and reach the
    session's S3 server."""
    import ray

    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"] = pythonpath
    env = {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1", "RAYSYM_CACHE_DIR": os.environ["RAYSYM_CACHE_DIR"],
           **s3.env}
    # address="local": a new Ray of our own, never one this machine recorded last (CI may have one running).
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env})
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


@pytest.fixture(scope="session")
def study_jets_dir(ray_local, tmp_path_factory):
    """Generated jets of the four classes in hls4ml files (40 per class), for the whole-study tests that do
    not test generation itself; made once per session."""
    from raysym.generate.chunks import generate
    from raysym.generate.config import GeneratorConfig

    out = tmp_path_factory.mktemp("study-jets")
    generate(GeneratorConfig(jets_per_class=40, seed=5, classes=("g", "w", "z", "t"), chunk_size=40), out,
             progress=False)
    return str(out)


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(bytes)``: a folder on a tmpfs of that size, to fill a disk for real (skipped where this
    process may not mount one); unmounted at the end."""
    import subprocess

    mounted = []

    def mount(size: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("mounting a tmpfs needs root")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def unreachable(monkeypatch):
    """An s3:// store whose endpoint is a closed loopback port: nothing answers there."""
    from tests.fake_cluster import free_ports

    (port,) = free_ports(1)
    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test",
                        "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    return "s3://nobody-home/run/store"
