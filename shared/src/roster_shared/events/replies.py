"""Replies on ``roster.replies``: the outcome of one ingestion event, for the waiting requester.

SCIM must answer a POST with the created resource and a login must know whether the person may
come in, so scim-api and sso-login wait for this message, keyed by the ingestion event's id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field, TypeAdapter

from roster_shared.events.envelope import Frozen, utcnow
from roster_shared.events.people import GroupSnapshot, UserSnapshot


class ErrorCode(StrEnum):
    """Typed failures a requester maps onto its protocol (SCIM ``scimType``, a login page)."""

    UNIQUENESS = "uniqueness"
    NOT_FOUND = "not_found"
    PRECONDITION_FAILED = "precondition_failed"
    NOT_PROVISIONED = "not_provisioned"
    DEACTIVATED = "deactivated"
    LINK_REFUSED = "link_refused"
    REFUSED = "refused"
    INVALID = "invalid"
    UNKNOWN_TENANT = "unknown_tenant"
    UNAUTHORIZED = "unauthorized"


class ReplyError(Frozen):
    """Why an ingestion event was not applied."""

    code: ErrorCode
    detail: str
    existing_id: str | None = Field(
        default=None, description="Uniqueness: the resource that already holds the value."
    )


class Reply(Frozen):
    """The outcome of one ingestion event."""

    type: Literal["reply"] = "reply"
    request_id: str = Field(description="The ingestion event's ``event_id``.")
    tenant_id: str
    occurred_at: datetime = Field(default_factory=utcnow)
    user: UserSnapshot | None = None
    group: GroupSnapshot | None = None
    created: bool = Field(default=False, description="A new resource was made (SCIM 201).")
    error: ReplyError | None = None

    @property
    def ok(self) -> bool:
        """True when the event was applied (or was already applied before)."""
        return self.error is None


REPLY_ADAPTER: TypeAdapter[Reply] = TypeAdapter(Reply)
