"""Turning contract models into bus records and back."""

from __future__ import annotations

from pydantic import BaseModel

from roster_shared.bus.base import Record
from roster_shared.events.envelope import EnvelopeBase

CONTENT_TYPE = ("content-type", b"application/json")


def event_record(topic: str, event: EnvelopeBase) -> Record:
    """A record for an event, keyed by tenant so a tenant's events keep their order."""
    return Record(
        topic=topic,
        key=event.tenant_id,
        value=event.model_dump_json().encode(),
        headers=(CONTENT_TYPE, ("event-type", event_type(event).encode())),
    )


def event_type(event: BaseModel) -> str:
    """The wire type of an event (its ``type`` field)."""
    value = getattr(event, "type", None)
    if not isinstance(value, str):
        raise TypeError(f"{type(event).__name__} has no wire type")
    return value
