"""Decoding ``roster.lifecycle`` and ``roster.users`` records into the shared contract models.

Roster's contract models refuse what they do not know (``roster_shared.events.envelope.Frozen``):
there are no tolerated minor versions. A consumer meets three kinds of record it cannot take:

* a ``type`` it does not know (a newer Roster added one);
* a ``schema_version`` above the one this package knows for that type;
* a payload that does not validate (a field added without a version bump would be a Roster bug).

Each is an :class:`UnsupportedEvent` naming why. The consumer stops on it by default, before
committing, so nothing is skipped silently: upgrade ``roster-events`` and start again. A consumer
that prefers to go on may skip them (``skip_unsupported``) and is then told about each one.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from pydantic import ValidationError
from roster_shared.events import lifecycle
from roster_shared.events.people import UserSnapshot

LifecycleEvent = lifecycle.LifecycleEvent


def _known_types() -> dict[str, int]:
    union = get_args(lifecycle.LifecycleEvent)[0]
    found: dict[str, int] = {}
    for model in get_args(union):
        found[model.model_fields["type"].default] = model.model_fields["schema_version"].default
    return found


SUPPORTED_VERSIONS: dict[str, int] = _known_types()
"""Every lifecycle event type this package decodes, with the newest schema version it knows."""


class UnsupportedEvent(Exception):
    """A record this consumer cannot decode; ``reason`` says why, ``raw`` is what was read."""

    def __init__(self, reason: str, raw: bytes | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def decode_event(value: bytes | None) -> LifecycleEvent:
    """A ``roster.lifecycle`` record's value as its event model, or :class:`UnsupportedEvent`."""
    raw = _json(value)
    type_ = raw.get("type")
    if not isinstance(type_, str) or type_ not in SUPPORTED_VERSIONS:
        raise UnsupportedEvent(
            f"unknown event type {type_!r}: this consumer knows {sorted(SUPPORTED_VERSIONS)}",
            value,
        )
    version = raw.get("schema_version", 1)
    newest = SUPPORTED_VERSIONS[type_]
    if not isinstance(version, int) or version > newest:
        raise UnsupportedEvent(
            f"{type_} schema_version {version!r} is newer than this consumer knows ({newest}): "
            "upgrade roster-events",
            value,
        )
    try:
        return lifecycle.LIFECYCLE_ADAPTER.validate_python(raw)
    except ValidationError as error:
        raise UnsupportedEvent(f"{type_} does not match its contract: {error}", value) from error


def decode_snapshot(value: bytes) -> UserSnapshot:
    """A ``roster.users`` value as a :class:`UserSnapshot`, or :class:`UnsupportedEvent`."""
    try:
        return UserSnapshot.model_validate(_json(value))
    except ValidationError as error:
        raise UnsupportedEvent(
            f"user snapshot does not match its contract: {error}", value
        ) from error


def _json(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise UnsupportedEvent("a record without a value", value)
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnsupportedEvent(f"not JSON: {error}", value) from error
    if not isinstance(raw, dict):
        raise UnsupportedEvent("not a JSON object", value)
    return raw
