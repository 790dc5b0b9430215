"""Output locations checked before any work (raysym.paths): a local folder, or an object-store URI that
must accept a write — a missing bucket, refused credentials or an unknown scheme is one clear error."""

import pytest

from raysym import artifacts
from raysym.errors import ConfigError
from raysym.paths import writable_location


def test_a_writable_bucket_is_accepted_and_left_without_the_probe(s3):
    bucket = s3.bucket()
    assert writable_location(f"s3://{bucket}/study/") == f"s3://{bucket}/study"
    assert [key for key in s3.keys(bucket) if not key.endswith("/")] == []  # only pyarrow's folder marker


def test_a_local_folder_is_created_and_returned_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert writable_location("runs/a") == str(tmp_path / "runs" / "a")
    assert (tmp_path / "runs" / "a").is_dir()


def test_a_missing_bucket_is_named(s3):
    with pytest.raises(ConfigError, match=r"study output s3://no-such-bucket-here/x cannot be written: its bucket "
                                          "does not exist"):
        writable_location("s3://no-such-bucket-here/x", "study output")


@pytest.mark.parametrize("variable, value, why", [
    ("AWS_SECRET_ACCESS_KEY", "not-the-secret", "credentials were refused"),
    ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000", "credentials were refused"),
])
def test_wrong_credentials_are_refused_in_one_sentence(s3, monkeypatch, variable, value, why):
    bucket = s3.bucket()
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=rf"s3://{bucket}/x cannot be written: .*{why}"):
        writable_location(f"s3://{bucket}/x")
    assert not artifacts.is_uri("relative/path")


def test_an_unknown_scheme_is_named():
    with pytest.raises(ConfigError, match=r"nosuch://bucket/x is not a location pyarrow can open"):
        writable_location("nosuch://bucket/x")


def test_a_file_uri_is_a_local_folder_made_like_a_path(tmp_path):
    """``--out file:///…`` is a local folder: made where it is missing, and every artifact written under
    it (the study's own docstrings name file:// locations)."""
    from raysym.artifacts import join, load_torch, save_torch
    from raysym.store import ResultStore

    out = writable_location(f"file://{tmp_path}/a/b", "study output location")
    assert out == str(tmp_path / "a" / "b") and (tmp_path / "a" / "b").is_dir()
    save_torch({"x": 1}, join(f"file://{tmp_path}/a/b", "models", "m.pt"))
    assert load_torch(tmp_path / "a" / "b" / "models" / "m.pt") == {"x": 1}
    assert ResultStore(f"file://{tmp_path}/a/b/store").create().home == str(tmp_path / "a" / "b")
