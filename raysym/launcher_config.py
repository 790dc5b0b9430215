"""The Ray cluster launcher YAML (``cluster.yaml``): checked offline, and turned into a local fake cluster.

A launcher config is read only by ``ray up``, which first talks to the cloud; a misspelt key or a worker
type that cannot run a trial would surface there, minutes and money later. ``check_cluster_config``
runs Ray's own schema check and raysym's rules on the file with no cloud call and no credentials, so a
test catches them. ``fake_cluster_config`` turns the same node types into a config for Ray's
fake-multinode provider, so the autoscaling the YAML describes can be exercised on one machine.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from raysym.errors import ConfigError

#: The node type name Ray's fake-multinode provider gives its head; its config must use the same.
FAKE_HEAD_NODE_TYPE = "ray.head.default"


def check_cluster_config(path) -> dict:
    """The launcher config at ``path`` with Ray's defaults filled in, once it passes every check.

    First Ray's own offline validation, the steps of ``ray up`` before it contacts the cloud: the
    provider's defaults are merged in (``prepare_config``) and the result is checked against Ray's
    JSON schema (``validate_config``), which rejects unknown keys at the top level and inside node
    types. Then raysym's rules: the head node type offers no CPU (so no trial or task lands on it and
    every one waits for, and triggers, a GPU worker); every worker type declares its ``resources`` with
    CPU > 0 and GPU > 0 (so the autoscaler knows what a node brings before launching it); every worker
    type has ``min_workers: 0`` (idle GPUs are released). Any failure is one ``ConfigError`` naming the
    file and the problem.
    """
    from ray.autoscaler._private.util import prepare_config, validate_config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such cluster config file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("provider"), dict) or "type" not in raw["provider"]:
        raise ConfigError(f"{path}: a cluster config needs a mapping with a `provider` that has a `type`")

    try:
        config = prepare_config(copy.deepcopy(raw))
        validate_config(config)
    except Exception as error:  # jsonschema.ValidationError, ValueError, NotImplementedError, ...
        message = getattr(error, "message", None) or str(error)
        where = "/".join(str(part) for part in getattr(error, "absolute_path", ()))
        raise ConfigError(f"{path}: Ray rejects the cluster config"
                          f"{f' at {where}' if where else ''}: {message}") from error

    _check_raysym_rules(path, config)
    return config


def _check_raysym_rules(path: Path, config: dict) -> None:
    node_types = config["available_node_types"]
    head_type = config["head_node_type"]
    head_cpu = node_types[head_type].get("resources", {}).get("CPU")
    if head_cpu != 0:
        raise ConfigError(f"{path}: the head node type {head_type!r} must declare resources CPU 0 so no trial "
                          f"runs on it, got CPU {head_cpu!r}")
    workers = {name: spec for name, spec in node_types.items() if name != head_type}
    if not workers:
        raise ConfigError(f"{path}: no worker node type besides the head {head_type!r}")
    for name, spec in workers.items():
        resources = spec.get("resources") or {}
        for resource in ("CPU", "GPU"):
            if not resources.get(resource, 0) > 0:
                raise ConfigError(f"{path}: worker node type {name!r} must declare resources {resource} > 0, "
                                  f"got resources {resources!r}")
        if spec.get("min_workers", 0) != 0:
            raise ConfigError(f"{path}: worker node type {name!r} must have min_workers 0 (idle GPUs are "
                              f"released), got {spec['min_workers']!r}")


def fake_cluster_config(config: dict, *, gpu_resource: str = "accelerator", max_cpus_per_node: int = 1,
                        idle_timeout_minutes: float = 0.1, gcs_address: str | None = None) -> dict:
    """An autoscaler config for Ray's fake-multinode provider with the worker types of ``config``.

    Same worker type names and min/max workers as the launcher config; each worker's GPUs become the
    custom resource ``gpu_resource`` (no CUDA needed, and a trial asking for it can only run on a
    launched worker), its CPUs are capped at ``max_cpus_per_node`` (the fake nodes share this machine's
    cores), and the head offers no CPU. The fake provider reads the file as it is, without Ray's
    defaults, so every key the autoscaler reads is written here. ``gcs_address`` is where the fake
    nodes join (the provider's default is port 6379 of this machine's IP).
    """
    head_type = config["head_node_type"]
    workers = {}
    for name, spec in config["available_node_types"].items():
        if name == head_type:
            continue
        resources = dict(spec.get("resources") or {})
        gpus = resources.pop("GPU", 0)
        resources["CPU"] = min(resources.get("CPU", max_cpus_per_node), max_cpus_per_node)
        if gpus:
            resources[gpu_resource] = gpus
        workers[name] = {"resources": resources, "node_config": {},
                         "min_workers": spec.get("min_workers", 0), "max_workers": spec["max_workers"]}
    provider = {"type": "fake_multinode", "use_node_id_as_ip": True,
                "disable_node_updaters": True, "disable_launch_config_check": True}
    if gcs_address:
        provider["gcs_address"] = gcs_address
    return {
        "cluster_name": f"{config.get('cluster_name', 'raysym')}-fake",
        "max_workers": config["max_workers"],
        "upscaling_speed": config.get("upscaling_speed", 1.0),
        "idle_timeout_minutes": idle_timeout_minutes,
        "docker": {},
        "provider": provider,
        "auth": {},
        "available_node_types": {
            FAKE_HEAD_NODE_TYPE: {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            **workers,
        },
        "head_node_type": FAKE_HEAD_NODE_TYPE,
        "file_mounts": {}, "cluster_synced_files": [], "file_mounts_sync_continuously": False,
        "rsync_exclude": [], "rsync_filter": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": [],
    }
