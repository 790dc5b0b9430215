"""Output locations (local folders, object-store URIs) checked before any work: one clear error instead of
a traceback mid-run."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from raysym.artifacts import is_uri, join, normalise, resolve, write_bytes
from raysym.errors import ConfigError


def writable_dir(path: str | os.PathLike, what: str = "output directory") -> Path:
    """``path`` as a folder that exists and this process can write into, created if missing.

    A path that is an existing file, that cannot be created (a read-only or missing parent, no
    permission) or that is not writable is a ``ConfigError`` naming it; nothing is created then.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is an existing file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{what} {path} cannot be created: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not writable")
    return path


#: What an object store's refusal means, by the error code pyarrow's message carries.
_REFUSALS = {
    "NO_SUCH_BUCKET": "its bucket does not exist",
    "not found. To create buckets": "its bucket does not exist",
    "ACCESS_DENIED": "the credentials were refused (access denied)",
    "SIGNATURE_DOES_NOT_MATCH": "the credentials were refused (the secret key does not match)",
    "INVALID_ACCESS_KEY_ID": "the credentials were refused (unknown access key)",
    "UNRECOGNIZED_CLIENT": "the credentials were refused (unknown access key)",
    "EXPIRED_TOKEN": "the credentials have expired",
}


def writable_location(location: str | os.PathLike, what: str = "output location") -> str:
    """``location`` (a local folder, or a URI such as ``s3://bucket/prefix``) once a write there succeeded,
    as text: an absolute path, or the URI without a trailing slash.

    A local folder is checked (and created) by :func:`writable_dir`. At a URI a small probe object is
    written and deleted, so a missing bucket, refused credentials or an unknown scheme is one
    ``ConfigError`` naming the location, before any work starts rather than after the first trial.
    """
    if not is_uri(location):
        return os.path.abspath(writable_dir(normalise(location), what))
    uri = normalise(location)
    try:
        fs, _ = resolve(uri)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{what} {uri} is not a location pyarrow can open: {err}") from None
    probe = join(uri, f".raysym-write-check-{uuid.uuid4().hex}")
    try:
        write_bytes(probe, b"raysym")
        fs.delete_file(resolve(probe)[1])
    except OSError as err:
        text = str(err)
        reason = next((why for code, why in _REFUSALS.items() if code in text), None)
        raise ConfigError(f"{what} {uri} cannot be written: {reason or text}") from None
    return uri
