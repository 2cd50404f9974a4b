"""The envelope every Roster event travels in, on every topic.

The envelope carries what a consumer needs before it looks at the payload: a unique id for
idempotent consumption, the wire type and its schema version, the tenant (also the partition
key, so one tenant's events stay in order), the source that observed it and the request or
login that caused it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from roster_shared.events.text import Token


def new_id() -> str:
    """A fresh random identifier (UUID4, canonical text form).

    What ``str(uuid.uuid4())`` returns, without building a ``UUID`` object: the user-store makes
    two or three per applied event, and ``uuid4`` was ~5 % of its ingest profile (issue 10)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
    dropped: Roster's own services parse with these models, so inside Roster a new field means
    upgrading the consumers before the producers that send it (the user-store sends an
    ingestion event it cannot parse to the dead-letter topic). Downstream apps read the
    lifecycle topics through ``roster_events``, which is a tolerant reader: within a
    ``schema_version`` it supports it sets unknown fields aside (counted, logged once) before
    validating against these models, so an additive field in a minor release breaks no app; a
    higher ``schema_version`` or an unknown ``type`` is still refused there
    (docs/consuming-events.md, "Schema versions").
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
