"""Output folders that are checked before any work: one clear error instead of a traceback mid-run."""

from __future__ import annotations

import os
from pathlib import Path

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
