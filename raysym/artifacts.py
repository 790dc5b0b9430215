"""The files a study makes besides its tables — model weights, ν1 vectors, teacher logits, generated jets,
figures — read and written at a *location*: a local path, or a URI of any filesystem pyarrow knows
(``s3://bucket/prefix``, ``gs://…``, ``file://…``).

On a cluster the node that writes a file is rarely the node that reads it: a trial trains on one GPU
worker, its best model is evaluated and analysed by tasks on others, and the report is made on the head.
So no stage may hand another a worker-local path; every artifact goes to the study's output location
and is read back from there by whoever needs it. A local path stays a plain path (and a local study
behaves exactly as before); a URI goes through :mod:`pyarrow.fs`, which takes credentials and endpoints
from the standard environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, …), so Ray workers need
nothing but that environment.

Writes are whole-or-nothing: a local file is written under a temporary name and renamed; an object
store makes an object visible only once its upload completed.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs

from raysym.errors import DataError

Location = str


#: The scheme of a local path written as a URI: ``file:///data/run`` is the folder ``/data/run``.
FILE_SCHEME = "file://"


def is_uri(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a remote filesystem by scheme (``s3://…``) rather than a local path (a
    ``file://`` URI is a local path, and is treated exactly as one: folders made, files renamed into place)."""
    text = os.fspath(location)
    return "://" in text and not text.startswith(FILE_SCHEME)


def _local_path(text: str) -> str:
    """The absolute local path of a path or a ``file://`` URI."""
    return os.path.abspath(text[len(FILE_SCHEME):] if text.startswith(FILE_SCHEME) else text)


def resolve(location: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of ``location`` and the path inside it (an absolute path when local)."""
    text = os.fspath(location)
    if is_uri(text):
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), _local_path(text)


def normalise(location: str | os.PathLike) -> Location:
    """``location`` as text: a URI without a trailing slash, or an absolute local path (also for a
    ``file://`` URI)."""
    text = os.fspath(location)
    return text.rstrip("/") if is_uri(text) else _local_path(text)


def join(location: str | os.PathLike, *parts: str) -> Location:
    """A location below ``location``: ``join("s3://b/run", "models", "t.pt")`` is ``s3://b/run/models/t.pt``."""
    base = normalise(location)
    return "/".join([base, *parts]) if is_uri(base) else os.path.join(base, *parts)


def sibling(location: str | os.PathLike, name: str) -> Location:
    """The location named ``name`` in the same folder as ``location`` (a file beside a model file)."""
    text = normalise(location)
    return posixpath.join(posixpath.dirname(text), name) if is_uri(text) else os.path.join(
        os.path.dirname(text), name)


def relative_location(location: str | os.PathLike, base: str | os.PathLike) -> str:
    """``location`` relative to the folder ``base`` (``/``-separated) when it lies below it; otherwise the
    full location, as it is. What the store keeps of a study's files, so the study can be moved."""
    text, folder = normalise(location), normalise(base)
    if is_uri(text) != is_uri(folder):
        return text
    if not is_uri(text):
        text, folder = Path(text).as_posix(), Path(folder).as_posix()
    prefix = folder.rstrip("/") + "/"
    return text[len(prefix):] if text.startswith(prefix) else text


def located(value: str, base: str | os.PathLike) -> Location:
    """The full location of ``value`` as :func:`relative_location` left it: a relative one below ``base``,
    a full one (absolute path or URI) as it is."""
    if is_uri(value) or os.path.isabs(value):
        return value
    return join(base, *value.split("/"))


def exists(location: str | os.PathLike) -> bool:
    """Whether a file exists at ``location``."""
    fs, path = resolve(location)
    return fs.get_file_info(path).type == pafs.FileType.File


def list_files(location: str | os.PathLike, suffix: str = "") -> list[Location]:
    """The files directly in folder ``location`` whose names end in ``suffix``, sorted; none if it is absent.
    Names starting with ``.`` (temporary files) are left out."""
    fs, path = resolve(location)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(suffix)
                   and not i.base_name.startswith("."))
    return [join(location, name) for name in names]


def write_bytes(location: str | os.PathLike, data: bytes) -> Location:
    """Write ``data`` as the whole file at ``location`` (folders created), atomically; return the location."""
    location = normalise(location)
    fs, path = resolve(location)
    if is_uri(location):  # an object store has no folders to make: a key's prefix is its folder
        with fs.open_output_stream(path) as stream:
            stream.write(data)
        return location
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    return location


def read_bytes(location: str | os.PathLike, what: str = "file") -> bytes:
    """The content of the file at ``location``; a missing or unreadable one is a ``DataError`` naming it."""
    fs, path = resolve(location)
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read()
    except FileNotFoundError:
        raise DataError(f"{what} {normalise(location)} does not exist") from None
    except OSError as err:
        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise DataError(f"{what} {normalise(location)} does not exist") from None
        raise DataError(f"{what} {normalise(location)} cannot be read: {err}") from None


def save_torch(value, location: str | os.PathLike) -> Location:
    """``torch.save`` of ``value`` to ``location``, atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(value, buffer)
    return write_bytes(location, buffer.getvalue())


def load_torch(location: str | os.PathLike, what: str = "file"):
    """``torch.load`` (on the CPU) of the file at ``location``; a missing or unreadable file, or one torch
    cannot read, is a ``DataError`` naming it."""
    import torch

    data = read_bytes(location, what)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise DataError(f"{what} {normalise(location)} cannot be read: {err}") from err


def upload(local_path: str | os.PathLike, location: str | os.PathLike) -> Location:
    """Copy the local file ``local_path`` to ``location`` (a no-op when they are the same file)."""
    location = normalise(location)
    if not is_uri(location) and os.path.abspath(local_path) == location:
        return location
    return write_bytes(location, Path(local_path).read_bytes())


def upload_tree(local_dir: str | os.PathLike, location: str | os.PathLike) -> list[Location]:
    """Copy every file below the local folder ``local_dir`` to the same relative place under ``location``."""
    local_dir = Path(local_dir)
    return [upload(path, join(location, *path.relative_to(local_dir).parts))
            for path in sorted(local_dir.rglob("*")) if path.is_file()]


def cache_root() -> Path:
    """Where local copies of remote artifacts are kept between runs: ``$RAYSYM_CACHE_DIR``, else
    ``~/.cache/raysym``."""
    return Path(os.environ.get("RAYSYM_CACHE_DIR") or Path.home() / ".cache" / "raysym")


def local_copy(location: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """A local file with the content of ``location``: the file itself when local, else a copy in the
    local ``folder``, downloaded unless a copy of the same size is already there."""
    location = normalise(location)
    if not is_uri(location):
        return Path(location)
    fs, path = resolve(location)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        raise DataError(f"file {location} does not exist")
    target = Path(folder) / posixpath.basename(path)
    if target.is_file() and target.stat().st_size == info.size:
        return target
    write_bytes(target, read_bytes(location))
    return target


@contextlib.contextmanager
def staged_file(location: str | os.PathLike) -> Iterator[Path]:
    """A local path to write a file to that appears at ``location`` only if the block succeeds.

    Writers that need a real file (h5py, savefig) fill the yielded path; a local location gets a
    temporary name beside it, renamed on success, a remote one a temporary local file, uploaded.
    """
    location = normalise(location)
    if is_uri(location):
        with tempfile.TemporaryDirectory(prefix="raysym-") as folder:
            local = Path(folder) / posixpath.basename(location)
            yield local
            upload(local, location)
        return
    final = Path(location)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.partial")
    try:
        yield temp
        os.replace(temp, final)
    finally:
        with contextlib.suppress(OSError):
            os.remove(temp)

