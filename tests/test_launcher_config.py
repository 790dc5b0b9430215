"""The launcher YAML is checked offline by Ray's own schema and raysym's rules, and maps onto a fake cluster."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from raysym.errors import ConfigError
from raysym.launcher_config import FAKE_HEAD_NODE_TYPE, check_cluster_config, fake_cluster_config

REPO = Path(__file__).resolve().parents[1]
CLUSTER_YAML = REPO / "cluster.yaml"


@pytest.fixture
def offline(monkeypatch):
    """No AWS credentials and no network: a check that reached for the cloud would fail."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def no_network(*args, **kwargs):
        raise AssertionError("check_cluster_config opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


def edited_copy(tmp_path: Path, edit) -> Path:
    config = yaml.safe_load(CLUSTER_YAML.read_text())
    edit(config)
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_repository_cluster_yaml_passes_offline(offline):
    config = check_cluster_config(CLUSTER_YAML)
    assert config["provider"]["type"] == "aws"
    head = config["head_node_type"]
    workers = {name: spec for name, spec in config["available_node_types"].items() if name != head}
    assert config["available_node_types"][head]["resources"]["CPU"] == 0
    assert len(workers) >= 2 and all(spec["resources"]["GPU"] >= 1 for spec in workers.values())
    assert any(spec["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot"
               for spec in workers.values())
    assert config["file_mounts"] == {"~/raysym": "."}
    assert any("download.pytorch.org/whl/cu" in command for command in config["setup_commands"])


def test_a_misspelt_top_level_key_fails_with_rays_schema_message(tmp_path, offline):
    path = edited_copy(tmp_path, lambda c: c.__setitem__("max_worker", c.pop("max_workers")))
    schema_message = r"Additional properties are not allowed \('max_worker' was unexpected\)"
    with pytest.raises(ConfigError, match=schema_message) as err:
        check_cluster_config(path)
    assert str(path) in str(err.value)


def test_a_misspelt_key_inside_a_node_type_fails_naming_the_node_type(tmp_path, offline):
    def misspell(config):
        worker = config["available_node_types"]["gpu_worker"]
        worker["min_worker"] = worker.pop("min_workers")

    path = edited_copy(tmp_path, misspell)
    with pytest.raises(ConfigError, match=r"available_node_types/gpu_worker.*'min_worker' was unexpected"):
        check_cluster_config(path)


def test_a_worker_type_without_a_gpu_fails(tmp_path, offline):
    path = edited_copy(tmp_path, lambda c: c["available_node_types"]["gpu_worker_spot"]["resources"].pop("GPU"))
    with pytest.raises(ConfigError, match=r"cluster\.yaml: worker node type 'gpu_worker_spot' must declare .*GPU"):
        check_cluster_config(path)


def test_a_head_that_offers_cpus_fails(tmp_path, offline):
    path = edited_copy(tmp_path, lambda c: c["available_node_types"]["head"].__setitem__("resources", {"CPU": 2}))
    with pytest.raises(ConfigError, match=r"head node type 'head' must declare resources CPU 0"):
        check_cluster_config(path)


def test_a_worker_type_kept_warm_fails(tmp_path, offline):
    path = edited_copy(tmp_path, lambda c: c["available_node_types"]["gpu_worker"].__setitem__("min_workers", 1))
    with pytest.raises(ConfigError, match=r"'gpu_worker' must have min_workers 0"):
        check_cluster_config(path)


def test_a_missing_file_fails_naming_the_path(tmp_path):
    path = tmp_path / "nowhere" / "cluster.yaml"
    with pytest.raises(ConfigError, match=str(path)):
        check_cluster_config(path)


def test_the_fake_config_maps_gpus_to_a_custom_resource_and_caps_cpus():
    config = check_cluster_config(CLUSTER_YAML)
    fake = fake_cluster_config(config, gpu_resource="accelerator", max_cpus_per_node=1, gcs_address="10.0.0.1:7000")
    head = config["head_node_type"]
    workers = {name: spec for name, spec in config["available_node_types"].items() if name != head}
    assert fake["provider"]["type"] == "fake_multinode"
    assert fake["provider"]["gcs_address"] == "10.0.0.1:7000"
    assert fake["head_node_type"] == FAKE_HEAD_NODE_TYPE
    assert fake["available_node_types"][FAKE_HEAD_NODE_TYPE]["resources"] == {"CPU": 0}
    assert set(fake["available_node_types"]) == {FAKE_HEAD_NODE_TYPE, *workers}
    for name, spec in workers.items():
        fake_spec = fake["available_node_types"][name]
        assert fake_spec["resources"] == {"CPU": 1, "accelerator": spec["resources"]["GPU"]}
        assert (fake_spec["min_workers"], fake_spec["max_workers"]) == (spec["min_workers"], spec["max_workers"])


def test_the_fake_config_passes_rays_schema():
    from ray.autoscaler._private.util import validate_config

    validate_config(fake_cluster_config(check_cluster_config(CLUSTER_YAML)))
