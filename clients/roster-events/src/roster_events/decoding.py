"""Decoding ``roster.lifecycle`` and ``roster.users`` records into the shared contract models.

Roster's contract models refuse what they do not know (``roster_shared.events.envelope.Frozen``)
— on the producer side. This package reads tolerantly (``tolerant``): within a
``schema_version`` it supports, fields its models do not know (an additive field of a newer
minor release, at any level) are set aside, counted and logged once, and the rest is decoded.
A consumer meets three kinds of record it cannot take:

* a ``type`` it does not know (a newer Roster added one);
* a ``schema_version`` above the one this package knows for that type;
* a payload that does not validate even so (a known field missing or of the wrong type).

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

from roster_events.tolerant import IgnoredFields, known_only

LifecycleEvent = lifecycle.LifecycleEvent


MODELS: dict[str, type[Any]] = {
    model.model_fields["type"].default: model
    for model in get_args(get_args(lifecycle.LifecycleEvent)[0])
}
"""Each lifecycle event type's model."""

SUPPORTED_VERSIONS: dict[str, int] = {
    type_: model.model_fields["schema_version"].default for type_, model in MODELS.items()
}
"""Every lifecycle event type this package decodes, with the newest schema version it knows."""


class UnsupportedEvent(Exception):
    """A record this consumer cannot decode; ``reason`` says why, ``raw`` is what was read."""

    def __init__(self, reason: str, raw: bytes | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


IGNORED = IgnoredFields()
"""Unknown fields set aside by decoders not given their own :class:`IgnoredFields`."""


def decode_event(value: bytes | None, ignored: IgnoredFields = IGNORED) -> LifecycleEvent:
    """A ``roster.lifecycle`` record's value as its event model, or :class:`UnsupportedEvent`.
    Unknown fields (within a supported version) are set aside and noted in ``ignored``."""
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
    known, dropped = known_only(MODELS[type_], raw)
    try:
        event = lifecycle.LIFECYCLE_ADAPTER.validate_python(known)
    except ValidationError as error:
        raise UnsupportedEvent(f"{type_} does not match its contract: {error}", value) from error
    ignored.note(type_, dropped)
    return event


def decode_snapshot(value: bytes, ignored: IgnoredFields = IGNORED) -> UserSnapshot:
    """A ``roster.users`` value as a :class:`UserSnapshot`, or :class:`UnsupportedEvent`
    (unknown fields set aside as in :func:`decode_event`)."""
    known, dropped = known_only(UserSnapshot, _json(value))
    try:
        user = UserSnapshot.model_validate(known)
    except ValidationError as error:
        raise UnsupportedEvent(
            f"user snapshot does not match its contract: {error}", value
        ) from error
    ignored.note("user snapshot", dropped)
    return user


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
