"""A local autoscaling Ray cluster with the node types of ``cluster.yaml``, for tests.

Ray's fake-multinode provider "launches" a worker node by starting a raylet on this machine, so the
autoscaling that ``cluster.yaml`` describes (head with no CPU, GPU workers from zero) runs without a
cloud. ``ray.cluster_utils.AutoscalingCluster`` would do this, but it cannot build its config (the wheel
lacks ``fake_multi_node/example.yaml``) and its ``start()`` and ``shutdown()`` run ``ray stop --force``,
which kills every Ray on the machine, the test session's own included. So this helper:

* writes the config itself (``raysym.launcher_config.fake_cluster_config``), with the fake nodes told
  the head's address (provider ``gcs_address``) instead of their default, port 6379;
* starts the head with ``ray start --head`` on free ports and its own ``--temp-dir`` under /tmp; every
  Ray process of this cluster names that directory on its command line (the fake nodes take the head's
  temp dir), and their workers are their children;
* stops exactly the processes whose command line or environment (``MARKER_VARIABLE``, set for the head
  and for what a test runs with ``cluster.env``) names that directory, and their descendants, found in
  /proc, never a ``ray stop``; a run killed before it could clean up is cleaned by the next one (each
  temp dir records the pid of the process that made it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from raysym.launcher_config import check_cluster_config, fake_cluster_config

REPO = Path(__file__).resolve().parents[1]
#: Ray's temp dirs of these clusters are /tmp/<PREFIX>XXXXXX: short, as Ray's unix socket paths must be.
PREFIX = "raysym-fc-"
OWNER_FILE = "owner.pid"
#: Set to the cluster's temp dir in the environment of its processes and of the drivers a test starts.
MARKER_VARIABLE = "RAYSYM_FAKE_CLUSTER_DIR"

_NODES_SCRIPT = """
import json, sys
from ray._raylet import GcsClient
from ray.core.generated import gcs_pb2
nodes = GcsClient(address=sys.argv[1]).get_all_node_info(timeout=20)
print(json.dumps([{"node_id": node_id.hex(), "alive": info.state == gcs_pb2.GcsNodeInfo.ALIVE,
                   "is_head": info.is_head_node, "resources": dict(info.resources_total)}
                  for node_id, info in nodes.items()]))
"""


class FakeAutoscalingCluster:
    """A fake-multinode autoscaling cluster made from a launcher YAML; a context manager.

    ``address`` is the head's GCS address (``ray.init(address=...)``, ``--address``); ``worker_count()``
    and ``nodes()`` ask the GCS from a subprocess, so the calling process's own Ray session (the
    ``ray_local`` fixture) is never touched.
    """

    def __init__(self, launcher_yaml, tmp_dir, *, gpu_resource: str = "accelerator", max_cpus_per_node: int = 1,
                 idle_timeout_minutes: float = 0.1):
        self.launcher_yaml = Path(launcher_yaml)
        self.tmp_dir = Path(tmp_dir)
        self.gpu_resource = gpu_resource
        self.max_cpus_per_node = max_cpus_per_node
        self.idle_timeout_minutes = idle_timeout_minutes
        self.address: str | None = None
        self.ray_temp_dir: Path | None = None
        self.config: dict | None = None

    def __enter__(self) -> FakeAutoscalingCluster:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()

    def start(self) -> None:
        import ray._private.services

        reap_abandoned_clusters()
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.ray_temp_dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir="/tmp"))
        (self.ray_temp_dir / OWNER_FILE).write_text(str(os.getpid()))
        gcs_port, dashboard_port, agent_port = free_ports(3)
        # The fake nodes start their raylets on this IP; the head must be reachable at the same one.
        self.address = f"{ray._private.services.get_node_ip_address()}:{gcs_port}"
        self.config = fake_cluster_config(
            check_cluster_config(self.launcher_yaml), gpu_resource=self.gpu_resource,
            max_cpus_per_node=self.max_cpus_per_node, idle_timeout_minutes=self.idle_timeout_minutes,
            gcs_address=self.address)
        config_path = self.tmp_dir / "fake_cluster.yaml"
        config_path.write_text(json.dumps(self.config, indent=1))  # JSON is YAML
        env = {**self.env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
        command = ["ray", "start", "--head", f"--port={gcs_port}", "--num-cpus=0", "--num-gpus=0",
                   f"--temp-dir={self.ray_temp_dir}", "--include-dashboard=false",
                   f"--dashboard-port={dashboard_port}", f"--dashboard-agent-listen-port={agent_port}",
                   "--disable-usage-stats", f"--autoscaling-config={config_path}"]
        try:
            subprocess.run(command, env=env, check=True, capture_output=True, text=True, timeout=120)
            heads = [n for n in self.nodes() if n["alive"] and n["is_head"]]
            if len(heads) != 1:
                raise RuntimeError(f"fake cluster at {self.address}: expected one live head, found {heads}")
        except subprocess.CalledProcessError as error:
            self.shutdown()
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{error.stdout}\n{error.stderr}") from error
        except BaseException:
            self.shutdown()
            raise

    @property
    def env(self) -> dict[str, str]:
        """An environment for a process that uses this cluster (a study driver): it is stopped with the
        cluster, even by the next run's clean-up if this one is killed."""
        env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
        env.update({MARKER_VARIABLE: str(self.ray_temp_dir), "RAY_USAGE_STATS_ENABLED": "0",
                    "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")})
        return env

    def nodes(self) -> list[dict]:
        """Every node the GCS knows: node_id, alive, is_head, resources (the totals it offers)."""
        result = subprocess.run([sys.executable, "-c", _NODES_SCRIPT, self.address], capture_output=True,
                                text=True, timeout=60, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        if result.returncode != 0:
            raise RuntimeError(f"cannot list the nodes of {self.address}: {result.stderr[-2000:]}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def worker_count(self) -> int:
        """Live worker nodes (every live node but the head)."""
        return sum(1 for node in self.nodes() if node["alive"] and not node["is_head"])

    def head(self) -> dict:
        return next(node for node in self.nodes() if node["is_head"])

    def shutdown(self) -> None:
        """Stop every process of this cluster (head, autoscaler, fake worker nodes, their workers)."""
        if self.ray_temp_dir is not None:
            stop_processes_naming(str(self.ray_temp_dir))
            shutil.rmtree(self.ray_temp_dir, ignore_errors=True)
            self.ray_temp_dir = None


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports free at this moment (bound together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line and environment) of every process, read from /proc."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                cmdline += " " + Path(f"/proc/{entry.name}/environ").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:  # another user's process
                pass
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry.name)] = (int(fields[1]), fields[0], cmdline)
    return table


def processes_naming(marker: str) -> set[int]:
    """Live processes whose command line or environment contains ``marker``, with all their descendants
    (Ray renames its workers ``ray::...``, so they are also found as children of their raylet)."""
    table = _processes()
    found = {pid for pid, (_, state, cmdline) in table.items() if marker in cmdline and state != "Z"}
    grew = True
    while grew:
        children = {pid for pid, (ppid, state, _) in table.items() if ppid in found and state != "Z"}
        grew = not children <= found
        found |= children
    return found - {os.getpid()}


def stop_processes_naming(marker: str, grace_s: float = 5.0) -> None:
    """SIGTERM the processes ``processes_naming(marker)`` finds, SIGKILL those still there after
    ``grace_s``; repeated until none is left (the autoscaler may start a node meanwhile)."""
    for _ in range(5):
        pids = processes_naming(marker)
        if not pids:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                table = _processes()
                pids = {pid for pid in pids if pid in table and table[pid][1] != "Z"}
                if not pids:
                    break
                time.sleep(0.2)
            if not pids:
                break


def reap_abandoned_clusters() -> None:
    """Stop the clusters of test processes that died without shutting theirs down (a killed pytest)."""
    for temp_dir in Path("/tmp").glob(f"{PREFIX}*"):
        try:
            owner = int((temp_dir / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        stop_processes_naming(str(temp_dir))
        shutil.rmtree(temp_dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
