"""slurm/raysym.sbatch run for real: ``sbatch`` on a SLURM cluster that this module starts on this machine.

The cluster is Debian's ``slurm-wlm`` with its own munge: a ``munged`` with a key made here, a
``slurmctld``, and two ``slurmd`` (``-N n1``, ``-N n2``) that SLURM treats as two nodes of one CPU and one
GPU each (the GPU is a stand-in generic resource on /dev/null, so the script's ``--gpus-per-task=1`` is
granted unchanged and its GPU count reaches ``ray start``). Every file and socket lives in one folder
under /tmp on free ports, and the script's Ray uses its own port and temp dir, so neither the test
session's Ray nor another's is touched. At the end the module stops exactly what it started: its jobs, its
daemons, then any process still naming its folder (job steps carry its SLURM_CONF), never ``ray stop``.

The jobs run the smoke study, so those tests are slow (CI runs them after the quick suite; .ci/run installs
the packages), and they are skipped where the SLURM programs are missing. How SLURM's variables become
each Ray node's CPUs and GPUs is checked quickly, without SLURM.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from raysym.store import ResultStore
from tests.fake_cluster import free_ports, processes_naming, stop_processes_naming

REPO = Path(__file__).resolve().parents[1]
SBATCH = REPO / "slurm" / "raysym.sbatch"
START_RAY = REPO / "slurm" / "start_ray_cluster.sh"
SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "sinfo", "squeue", "scancel")
NODES = ("n1", "n2")


def wait_for(condition, timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; the seconds it took."""
    begin = time.monotonic()
    while not condition():
        assert time.monotonic() - begin < timeout, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)
    return time.monotonic() - begin


def slurm_conf(folder: Path, ports: list[int]) -> str:
    """One controller and the nodes ``NODES`` on this host (slurmd ``-N`` picks its node), without cgroups,
    accounting or a database: what a one-machine SLURM needs and no more."""
    host, user = socket.gethostname().split(".")[0], getpass.getuser()
    controller_port, *node_ports = ports
    nodes = "\n".join(f"NodeName={name} NodeHostname={host} NodeAddr=127.0.0.1 Port={port} CPUs=1 Gres=gpu:1 "
                      "State=UNKNOWN" for name, port in zip(NODES, node_ports))
    return f"""\
ClusterName=raysymtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={controller_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge/socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool-%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
GresTypes=gpu
{nodes}
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


class SlurmCluster:
    """The daemons of the test's SLURM and the environment its commands need (``env``: SLURM_CONF)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
        self.daemons: list[subprocess.Popen] = []

    def command(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def start_daemon(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.out", "w")
        self.daemons.append(subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def start(self) -> None:
        munge = self.folder / "munge"
        # munged wants the folders of its socket open to all (mkdtemp's are not), its key private.
        self.folder.chmod(0o755)
        munge.mkdir(mode=0o755)
        key = munge / "key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        for folder in ("state", *(f"spool-{name}" for name in NODES)):
            (self.folder / folder).mkdir()
        (self.folder / "slurm.conf").write_text(slurm_conf(self.folder, free_ports(1 + len(NODES))))
        (self.folder / "gres.conf").write_text(f"NodeName={','.join(NODES)} Name=gpu File=/dev/null\n")
        self.start_daemon("munged", "munged", "--foreground", f"--key-file={key}", f"--socket={munge}/socket",
                          f"--pid-file={munge}/pid", f"--log-file={munge}/log", f"--seed-file={munge}/seed")
        wait_for(lambda: self.running() and (munge / "socket").exists(), 30, "munged's socket")
        conf = self.env["SLURM_CONF"]
        self.start_daemon("slurmctld", "slurmctld", "-D", "-f", conf)
        for name in NODES:
            self.start_daemon(f"slurmd-{name}", "slurmd", "-D", "-N", name, "-f", conf)
        wait_for(self.nodes_idle, 120, "the SLURM nodes to be idle")

    def running(self) -> bool:
        """True while every daemon runs; an error with their logs when one has ended."""
        for daemon in self.daemons:
            assert daemon.poll() is None, f"{daemon.args[0]} ended:\n{self.logs()}"
        return True

    def nodes_idle(self) -> bool:
        self.running()
        done = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env, capture_output=True, text=True)
        states = dict(line.split() for line in done.stdout.splitlines() if line.strip())
        return done.returncode == 0 and states == dict.fromkeys(NODES, "idle")

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-2000:]}" for path in sorted(self.folder.glob("*.out")))

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job``'s fields of ``job_id`` (JobState, ExitCode, RunTime, ...)."""
        return dict(re.findall(r"(\w+)=(\S*)", self.command("scontrol", "show", "job", job_id)))

    def stop(self) -> None:
        """Cancel this cluster's jobs, stop its daemons, then whatever still names its folder."""
        if self.daemons and all(daemon.poll() is None for daemon in self.daemons):
            jobs = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True, text=True).stdout
            if jobs.split():
                subprocess.run(["scancel", *jobs.split()], env=self.env, capture_output=True)
                try:
                    wait_for(lambda: not subprocess.run(["squeue", "-h"], env=self.env, capture_output=True,
                                                        text=True).stdout.strip(), 90, "the jobs to end")
                except AssertionError:
                    pass  # the sweep below ends them
        for daemon in reversed(self.daemons):  # the slurmd, slurmctld, munged last
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        stop_processes_naming(str(self.folder))


@pytest.fixture(scope="module")
def slurm():
    """A running two-node SLURM cluster of this machine (skipped where SLURM is not installed)."""
    missing = [program for program in SLURM_PROGRAMS if shutil.which(program) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): "
                    "`apt-get install slurm-wlm munge`, as .ci/run does")
    # Short: munge's and slurmd's socket paths live in it.
    cluster = SlurmCluster(Path(tempfile.mkdtemp(prefix="raysym-slurm-", dir="/tmp")))
    try:
        started = time.monotonic()
        cluster.start()
        print(f"SLURM cluster of {len(NODES)} nodes up in {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture
def ray_settings():
    """The environment that gives the job's Ray its own port, temp dir and agent ports (on one machine its
    two nodes must not share the agent's default port); after the test, what still names that temp dir is
    stopped."""
    ray_temp = tempfile.mkdtemp(prefix="raysym-sl-", dir="/tmp")
    port, head_agent, worker_agent = free_ports(3)
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    settings = {"RAY_PORT": str(port), "RAY_TEMP_DIR": ray_temp, "PYTHONPATH": pythonpath,
                "RAY_HEAD_ARGS": f"--include-dashboard=false --dashboard-agent-listen-port={head_agent}",
                "RAY_WORKER_ARGS": f"--dashboard-agent-listen-port={worker_agent}", "RAY_AUTH_MODE": "disabled"}
    yield settings
    stop_processes_naming(ray_temp)
    shutil.rmtree(ray_temp, ignore_errors=True)


def sbatch(slurm: SlurmCluster, settings: dict, log: Path, *study_args: str, timeout: float = 900):
    """Submit raysym.sbatch as a user would, from the checkout, and wait for the job to end (polling
    ``scontrol``: ``sbatch --wait`` polls at growing intervals, up to half a minute late): its id, its
    ``scontrol show job`` fields and its output."""
    env = {key: value for key, value in slurm.env.items() if key != "RAY_ADDRESS"}
    env.update(settings)
    done = subprocess.run(["sbatch", "--parsable", "--cpus-per-task=1", f"--output={log}", str(SBATCH), *study_args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    job_id = done.stdout.split(";")[0].strip()
    wait_for(lambda: slurm.job(job_id)["JobState"] not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"),
             timeout, f"job {job_id} to end")
    return job_id, slurm.job(job_id), log.read_text() if log.exists() else ""


@pytest.mark.slow
def test_sbatch_runs_the_smoke_study_on_the_ray_cluster_the_job_started(slurm, ray_settings, tmp_path):
    out = tmp_path / "study"
    started = time.monotonic()
    # --verbose: the study's log then holds Ray's INFO lines, among them the cluster its driver joined.
    _, job, log = sbatch(slurm, ray_settings, tmp_path / "job.out", "--smoke-test", "--verbose", "--out", str(out))
    seconds = time.monotonic() - started
    assert (job["JobState"], job["ExitCode"]) == ("COMPLETED", "0:0"), log[-6000:]

    # One Ray node per SLURM node, each offering the CPU and the GPU SLURM gave its task.
    assert "start_ray_cluster: head on n1 at " in log and "start_ray_cluster: 2 Ray node(s) active" in log
    ray_nodes = set(re.findall(r"^ 1 node_([0-9a-f]+)$", log, flags=re.MULTILINE))
    assert len(ray_nodes) == 2, log[:4000]
    assert re.search(r"/2\.0 CPU$", log, flags=re.MULTILINE) and re.search(r"/2\.0 GPU$", log, flags=re.MULTILINE)
    # The study's driver joined that cluster (at the script's port), not a local Ray of its own ...
    assert re.search(rf"Connecting to existing Ray cluster at address: [\d.]+:{ray_settings['RAY_PORT']}", log)

    # ... and finished there: every stage's rows in the store, the evaluations run on both nodes.
    store = ResultStore(str(out / "store"))
    trials, evaluations = store.load("trials"), store.load("evaluations")
    assert len(trials) == 2 and trials["trial_id"].is_unique
    assert len(evaluations) == 2 * 3 and set(evaluations["node_id"]) == ray_nodes
    for table in ("hessian", "smearing", "students"):
        assert len(store.load(table)) > 0, table
    assert (out / "report" / "report.md").exists()

    # The job stopped its Ray: nothing is left that names its temp dir.
    wait_for(lambda: not processes_naming(ray_settings["RAY_TEMP_DIR"]), 60, "the job's Ray processes to end")
    print(f"sbatch to the job's end: {seconds:.1f} s (the job's RunTime {job['RunTime']})")


@pytest.mark.slow
def test_a_ray_head_that_cannot_start_fails_the_job_at_once_naming_the_step(slurm, ray_settings, tmp_path):
    """A head that cannot start ends the job within seconds, saying so, rather than after the wait for nodes
    (RAY_START_TIMEOUT, 300 s) or with a study started against nothing."""
    ray_settings["RAY_HEAD_ARGS"] += " --no-such-option"
    started = time.monotonic()
    _, job, log = sbatch(slurm, ray_settings, tmp_path / "job.out", "--smoke-test", "--out", str(tmp_path / "study"),
                         timeout=300)
    seconds = time.monotonic() - started
    assert job["JobState"] == "FAILED" and job["ExitCode"] != "0:0"
    assert "a `ray start` step ended before the cluster was up" in log, log[-3000:]
    assert "Connecting to existing Ray cluster" not in log and not (tmp_path / "study").exists()
    assert seconds < 120, f"the job took {seconds:.0f} s to fail"


@pytest.mark.parametrize("variables, cpus, gpus", [
    ({"SLURM_CPUS_PER_TASK": "8", "SLURM_GPUS_PER_TASK": "2"}, "8", "2"),
    ({"SLURM_CPUS_ON_NODE": "16", "SLURM_GPUS_PER_TASK": "a100:4"}, "16", "4"),
    ({"SLURM_CPUS_PER_TASK": "4", "SLURM_GPUS_ON_NODE": "3"}, "4", "3"),
    ({"SLURM_CPUS_PER_TASK": "4", "CUDA_VISIBLE_DEVICES": "0,3"}, "4", "2"),
    ({}, "", "0"),
])
def test_each_ray_node_offers_the_cpus_and_gpus_slurm_gave_its_task(variables, cpus, gpus):
    """--num-cpus and --num-gpus of every ``ray start`` come from SLURM's variables; with no GPU from SLURM
    it is 0, so Ray never claims another job's GPU on a shared node."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SLURM_") and key != "CUDA_VISIBLE_DEVICES"}
    env.update(variables)
    done = subprocess.run(["bash", "-c", f'source "{START_RAY}" && echo "$(ray_slurm_cpus)|$(ray_slurm_gpus)"'],
                          env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"{cpus}|{gpus}"
