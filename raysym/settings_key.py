"""Short keys of settings: the identity of a result is everything that changed it, not a name.

Two results made with different settings must never be taken for one another (a rerun with more epochs
must not find the old model and call it done); two made with the same settings should be recognised as
one, whichever process computed the key. ``settings_key`` hashes the settings' canonical text, so the
same values give the same key on every machine and in every run.

One rule for every settings section: its key hashes **all** its fields, except those its class names in
``KEY_EXCLUDED`` — fields that cannot change a number (the device a run trains on, how many CPUs a task
holds, the switch that says whether an analysis runs at all), each set commented where it is declared. A
field added later is in every key at once, so keys move when a section grows; the store's schema version
and its migration (:mod:`raysym.store_migration`) carry stored results over to the new keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any


def excluded_fields(section: Any) -> frozenset[str]:
    """The fields of a settings section (a dataclass or its class) that no key holds: its ``KEY_EXCLUDED``
    and its ``NOT_RECORDED``."""
    return frozenset(getattr(section, "KEY_EXCLUDED", frozenset())) | unrecorded_fields(section)


def unrecorded_fields(section: Any) -> frozenset[str]:
    """The fields of a section that neither a key nor a record holds (``NOT_RECORDED``): how a run is
    watched (experiment trackers), not what it computes, so that watching it never makes it another run."""
    return frozenset(getattr(section, "NOT_RECORDED", frozenset()))


def keyed_fields(value: Any, *, keyed: bool = True) -> Any:
    """``value`` as plain data for a key: dataclasses as dicts of their fields less their ``KEY_EXCLUDED``
    (all of them with ``keyed=False``) and ``NOT_RECORDED``, recursively through mappings, lists and tuples (as
    :func:`dataclasses.asdict` does otherwise)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        skip = excluded_fields(value) if keyed else unrecorded_fields(value)
        return {f.name: keyed_fields(getattr(value, f.name), keyed=keyed) for f in dataclasses.fields(value)
                if f.name not in skip}
    if isinstance(value, Mapping):
        return {k: keyed_fields(v, keyed=keyed) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(keyed_fields(v, keyed=keyed) for v in value)
    return value


def canonical(value: Any) -> str:
    """A deterministic text for settings values: dataclasses (less their excluded fields) and mappings with
    sorted keys, tuples as lists."""
    return json.dumps(keyed_fields(value), sort_keys=True, default=repr, separators=(",", ":"))


def record_text(value: Any) -> str:
    """The same text with every field, excluded ones too: what a record of a whole configuration (a study
    run's ``config_json``) keeps, so nothing about the run is lost."""
    return json.dumps(keyed_fields(value, keyed=False), sort_keys=True, default=repr, separators=(",", ":"))


def settings_key(*values: Any) -> str:
    """A 10-hex-digit hash of ``values``' repr: equal values, equal key."""
    return hashlib.sha1(repr(values).encode()).hexdigest()[:10]
