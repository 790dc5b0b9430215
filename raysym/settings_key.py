"""Short keys of settings: the identity of a result is everything that changed it, not a name.

Two results made with different settings must never be taken for one another (a rerun with more epochs
must not find the old model and call it done); two made with the same settings should be recognised as
one, whichever process computed the key. ``settings_key`` hashes the settings' canonical text, so the
same values give the same key on every machine and in every run.

Settings grow: a field added to a section after results were stored would change the canonical text of
every config, and so every key, and a rerun would redo all the stored work although nothing that changes
a number changed. A field declared with :func:`added_later` is therefore left out of the canonical text
while it holds its default (which must reproduce what the code did before the field existed); set to
anything else it is in, and the key moves as it should.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Field metadata marking a setting added after keys were first stored (see :func:`added_later`).
_ADDED_LATER = "raysym.added_later"


def added_later(default: Any, **options: Any) -> Any:
    """A dataclass field with ``default`` that stays out of keys while it holds that default.

    Use it for every setting added to a section that already had stored results, with the default that
    gives the old behaviour; ``options`` go to :func:`dataclasses.field`.
    """
    metadata = {**options.pop("metadata", {}), _ADDED_LATER: True}
    if callable(default) and not isinstance(default, type):
        return dataclasses.field(default_factory=default, metadata=metadata, **options)
    return dataclasses.field(default=default, metadata=metadata, **options)


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()  # type: ignore[misc]


def keyed_fields(value: Any) -> Any:
    """``value`` as plain data for a key: dataclasses as dicts without their added-later fields at default,
    recursively through mappings, lists and tuples (as :func:`dataclasses.asdict` does otherwise)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: keyed_fields(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get(_ADDED_LATER) and getattr(value, f.name) == _default(f))}
    if isinstance(value, Mapping):
        return {k: keyed_fields(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(keyed_fields(v) for v in value)
    return value


def canonical(value: Any) -> str:
    """A deterministic text for settings values: dataclasses (less their added-later fields at default) and
    mappings with sorted keys, tuples as lists."""
    return json.dumps(keyed_fields(value), sort_keys=True, default=repr, separators=(",", ":"))


def changed_later(section: Any, *names: str) -> tuple[tuple[str, Any], ...]:
    """(name, value) of those of ``names`` (added-later fields of ``section``) not at their default — what a
    key built from an explicit list of fields appends, so it stays the same while they are at default."""
    fields = {f.name: f for f in dataclasses.fields(section)}
    return tuple((name, getattr(section, name)) for name in names
                 if getattr(section, name) != _default(fields[name]))


def settings_key(*values: Any) -> str:
    """A 10-hex-digit hash of ``values``' repr: equal values, equal key."""
    return hashlib.sha1(repr(values).encode()).hexdigest()[:10]
