"""The envelope every Roster event travels in, on every topic.

The envelope carries what a consumer needs before it looks at the payload: a unique id for
idempotent consumption, the wire type and its schema version, the tenant (also the partition
key, so one tenant's events stay in order), the source that observed it and the request or
login that caused it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from roster_shared.events.text import Token


def new_id() -> str:
    """A fresh random identifier (UUID4, canonical text form)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Source(StrEnum):
    """Who observed the change an ingestion event reports."""

    SCIM = "scim"
    JIT = "jit"
    RECONCILER = "reconciler"
    ADMIN = "admin"


class Frozen(BaseModel):
    """Base of every contract model: immutable, unknown fields refused.

    Refusing unknown fields makes a producer typo fail at the edge instead of being silently
    dropped. The price: a consumer does not parse an event that carries a field its models do
    not know, whatever the ``schema_version`` says; the user-store sends such an ingestion event
    to the dead-letter topic. There are no tolerated minor versions, so a new field means
    upgrading the consumers before the producers that send it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")


TenantId = Annotated[Token, Field(description="Tenant id (UUID).")]


class EnvelopeBase(Frozen):
    """Fields shared by every event; subclasses fix ``type`` and ``data``."""

    event_id: Token = Field(
        default_factory=new_id,
        description="Unique per event; consumers record it to make redelivery harmless. "
        "Roster mints UUID4s; any id of the Token form (1-64 characters) is accepted.",
    )
    schema_version: int = Field(default=1, ge=1, description="Version of this type's payload.")
    occurred_at: datetime = Field(default_factory=utcnow, description="When the source saw it.")
    tenant_id: TenantId
    source: Source
    correlation_id: Token | None = Field(
        default=None, description="The SCIM request, login or reconciler run that caused it."
    )
