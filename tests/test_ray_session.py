"""Connecting to Ray (raysym.ray_session): a local Ray by default whatever this machine recorded, and a
dead address named within seconds instead of a hang."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from raysym.errors import ConfigError
from raysym.ray_session import resolve_address
from tests.conftest import REPO


@pytest.fixture
def dead_cluster_record(monkeypatch):
    """A Ray temp folder whose 'last cluster' record names an address nothing listens on (short path:
    Ray's socket paths live under it)."""
    folder = tempfile.mkdtemp(prefix="rs", dir="/tmp")
    os.makedirs(os.path.join(folder, "ray"))
    with open(os.path.join(folder, "ray", "ray_current_cluster"), "w") as f:
        f.write("127.0.0.1:1")
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_address_nothing_answers_at_fails_within_seconds_naming_it(address):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"no Ray cluster answers at '{address}'"):
        resolve_address(address)
    assert time.perf_counter() - start < 10


def test_auto_names_the_dead_cluster_this_machine_recorded(dead_cluster_record, monkeypatch):
    # "auto" joins a live Ray on this machine if there is one (this test session's own, say): pretend none is.
    import ray._private.services

    monkeypatch.setattr(ray._private.services, "find_gcs_addresses", lambda: [])
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"no Ray cluster answers at 'auto' \(found .*:1\)"):
        resolve_address("auto")
    assert time.perf_counter() - start < 10


def test_an_address_that_is_not_host_and_port_is_a_config_error():
    with pytest.raises(ConfigError, match="Ray address 'nonsense'"):
        resolve_address("nonsense")


def test_without_an_address_a_local_ray_starts_whatever_this_machine_recorded(dead_cluster_record):
    script = ("import ray; from raysym.ray_session import ensure_ray; "
              "assert ensure_ray(None); print('NODES', len(ray.nodes())); ray.shutdown()")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "NODES 1" in done.stdout and time.perf_counter() - start < 60


def test_a_local_rays_workers_get_one_thread_and_raysym_while_this_process_keeps_its_environment(tmp_path):
    """The settings reach workers through the environment Ray starts with, not a runtime_env (which would
    keep Tune's trials out of the workers Ray starts ahead of time)."""
    script = (
        "import os, ray; from raysym.ray_session import ensure_ray\n"
        "assert ensure_ray(None)\n"
        "assert 'OMP_NUM_THREADS' not in os.environ and 'PYTHONPATH' not in os.environ, 'driver environment changed'\n"
        "assert not ray.get_runtime_context().runtime_env\n"
        "@ray.remote\n"
        "def probe():\n"
        "    import raysym, os\n"
        "    return os.environ.get('OMP_NUM_THREADS')\n"
        "print('THREADS', ray.get(probe.remote())); ray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PYTHONPATH")}
    done = subprocess.run([sys.executable, "-c", script], env={**env, "RAY_AUTH_MODE": "disabled"}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "THREADS 1" in done.stdout
