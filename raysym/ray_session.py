"""Connecting to Ray once, the same way for every stage (generator, Tune training, analyses).

Without an address raysym starts its own local Ray (``address="local"``), never a cluster this machine
happened to record last: ``ray.init()`` with no address would join whatever ``ray start`` left in Ray's
temporary folder, and hang for minutes when that cluster is gone. ``"auto"`` joins the running cluster
Ray finds; any address is first checked to answer, so a dead one fails in seconds, naming it.

Workers must be able to import raysym: it is installed, and for a source checkout the repository root
also goes on the workers' PYTHONPATH. Numerical libraries in workers run single-threaded unless a
stage says otherwise (two busy cores with multi-threaded torch thrash).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from raysym.errors import ConfigError

_REPO_ROOT = Path(__file__).resolve().parents[1]
#: Seconds to wait for a cluster's address to accept a connection before calling it dead.
PROBE_TIMEOUT_S = 3.0


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment inside the block, the old values restored after it."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def resolve_address(address: str) -> str:
    """``host:port`` of the cluster ``address`` names (``auto``, ``host:port``, ``ray://host:port``),
    checked to accept connections; a ``ConfigError`` naming the address otherwise."""
    client = address.startswith("ray://")
    if client:
        target = address.removeprefix("ray://")
    else:
        from ray._private.services import canonicalize_bootstrap_address_or_die

        try:
            target = canonicalize_bootstrap_address_or_die(address)
        except (ConnectionError, ValueError) as err:
            raise ConfigError(f"Ray address {address!r}: {err}") from None
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r} is not host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as err:
        found = "" if target == address else f" (found {target})"
        raise ConfigError(f"no Ray cluster answers at {address!r}{found}: {err.strerror or err}; start one "
                          "with `ray start --head`, or leave --address out for a local Ray") from None
    return address if client else target


def ray_log_level() -> int:
    """Ray's own log level in this process: raysym's (``--verbose`` makes it INFO, ``--quiet`` ERROR), but never
    more than INFO; by default (WARNING) Ray's start-up and Tune's bookkeeping lines stay off the console."""
    return max(logging.INFO, logging.getLogger("raysym").getEffectiveLevel())


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray: a running cluster at ``address``, or a new local one. True if this call started it.

    Token authentication is off for a local instance unless the caller set ``RAY_AUTH_MODE``.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return False
    pythonpath = os.pathsep.join(filter(None, [str(_REPO_ROOT), os.environ.get("PYTHONPATH")]))
    worker_env = {"PYTHONPATH": pythonpath, "OMP_NUM_THREADS": "1"}
    if address is None:
        # A local Ray's workers inherit the environment of the processes ray.init starts, so the settings go
        # there rather than into a runtime_env: a job with a runtime_env cannot use the workers Ray starts
        # ahead of time, and each Tune trial then waits for a fresh process (measured once on a busy laptop:
        # 4.8 s from asking for an actor to its torch import done, against 2.6 s in a waiting worker). This
        # process's own environment is restored.
        with environment(worker_env):
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                     logging_level=ray_log_level())
    else:
        ray.init(address=resolve_address(address), runtime_env={"env_vars": worker_env}, logging_level=ray_log_level())
    return True
