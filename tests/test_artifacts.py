"""Artifacts at a location (raysym.artifacts): the same calls write and read a local folder and a real S3
bucket (moto's server on loopback), atomically, and a missing file is one error naming it."""

from pathlib import Path

import numpy as np
import pytest
import torch

from raysym import artifacts
from raysym.errors import DataError


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    s3 = request.getfixturevalue("s3")
    return f"s3://{s3.bucket()}/run"


def test_join_and_sibling_keep_uris_as_uris_and_make_local_paths_absolute(tmp_path, monkeypatch):
    assert artifacts.join("s3://b/run/", "models", "t.pt") == "s3://b/run/models/t.pt"
    assert artifacts.sibling("s3://b/run/models/t.pt", "t.nu1.pt") == "s3://b/run/models/t.nu1.pt"
    monkeypatch.chdir(tmp_path)
    assert artifacts.join("out", "models") == str(tmp_path / "out" / "models")
    assert artifacts.sibling(str(tmp_path / "m" / "t.pt"), "x") == str(tmp_path / "m" / "x")


def test_bytes_and_torch_files_round_trip_and_list(location):
    model = artifacts.join(location, "models", "t.pt")
    assert not artifacts.exists(model)
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    assert artifacts.save_torch(weights, model) == model
    assert artifacts.exists(model)
    assert torch.equal(artifacts.load_torch(model)["w"], weights["w"])
    artifacts.write_bytes(artifacts.sibling(model, "notes.txt"), b"hello")
    assert artifacts.read_bytes(artifacts.sibling(model, "notes.txt")) == b"hello"
    assert artifacts.list_files(artifacts.join(location, "models"), ".pt") == [model]
    assert artifacts.list_files(artifacts.join(location, "nowhere")) == []


def test_missing_or_foreign_files_are_data_errors_naming_them(location):
    missing = artifacts.join(location, "models", "absent.pt")
    with pytest.raises(DataError, match=r"best-model file .*absent.pt does not exist"):
        artifacts.load_torch(missing, "best-model file")
    junk = artifacts.write_bytes(artifacts.join(location, "junk.pt"), b"not torch")
    with pytest.raises(DataError, match=r"junk.pt cannot be read"):
        artifacts.load_torch(junk)


def test_a_staged_file_appears_only_when_its_writer_finished(location):
    target = artifacts.join(location, "jets", "chunk.npy")
    with pytest.raises(RuntimeError):
        with artifacts.staged_file(target) as local:
            np.save(local, np.ones(3))
            raise RuntimeError("writer died")
    assert not artifacts.exists(target)
    assert artifacts.list_files(artifacts.join(location, "jets")) == []
    with artifacts.staged_file(target) as local:
        with open(local, "wb") as handle:
            np.save(handle, np.arange(3))
    assert artifacts.read_bytes(target)[:6] == b"\x93NUMPY"


def test_local_copies_are_downloaded_once_and_trees_upload_whole(location, tmp_path):
    source = tmp_path / "tree"
    (source / "figures").mkdir(parents=True)
    (source / "report.md").write_text("# report")
    (source / "figures" / "a.png").write_bytes(b"png")
    uploaded = artifacts.upload_tree(source, artifacts.join(location, "report"))
    assert sorted(Path(u).name for u in uploaded) == ["a.png", "report.md"]
    copy = artifacts.local_copy(artifacts.join(location, "report", "figures", "a.png"), tmp_path / "mirror")
    assert copy.read_bytes() == b"png"
    if artifacts.is_uri(location):
        stamp = copy.stat().st_mtime_ns
        assert artifacts.local_copy(artifacts.join(location, "report", "figures", "a.png"),
                                    tmp_path / "mirror").stat().st_mtime_ns == stamp
