"""Short keys of settings: the identity of a result is everything that changed it, not a name.

Two results made with different settings must never be taken for one another (a rerun with more epochs
must not find the old model and call it done); two made with the same settings should be recognised as
one, whichever process computed the key. ``settings_key`` hashes the settings' canonical text, so the
same values give the same key on every machine and in every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def canonical(value: Any) -> str:
    """A deterministic text for settings values: dataclasses and mappings with sorted keys, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json.dumps(value, sort_keys=True, default=repr, separators=(",", ":"))


def settings_key(*values: Any) -> str:
    """A 10-hex-digit hash of ``values``' repr: equal values, equal key."""
    return hashlib.sha1(repr(values).encode()).hexdigest()[:10]
