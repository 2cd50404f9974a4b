"""Ingestion events on ``roster.ingest``: what a source (SCIM, a login, the reconciler) observed.

The user-store consumes these, resolves identity and decides the canonical change. Sources never
say "create" or "update" on their own authority except where the protocol demands it: a SCIM
POST (``target_id`` unset) must create or adopt, a SCIM PUT/PATCH (``target_id`` set) must
replace that resource.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from roster_shared.events.envelope import EnvelopeBase, Frozen
from roster_shared.events.people import IdentityLink, LinkKey, UserAttributes
from roster_shared.events.text import JsonObject, Line, Text, Token


class UserUpsertedData(Frozen):
    """A person as a source sees them now."""

    attributes: UserAttributes
    target_id: Token | None = Field(
        default=None,
        description="SCIM PUT/PATCH: the user id being replaced. None for "
        "SCIM POST (create or adopt) and for logins (resolve by identity).",
    )
    expected_version: int | None = Field(
        default=None,
        description="Optimistic concurrency: refuse unless the stored version "
        "matches (SCIM If-Match, and read-modify-write PATCH).",
    )
    identity_link: IdentityLink | None = Field(
        default=None, description="Set by logins: the IdP issuer and subject."
    )
    link_keys: tuple[LinkKey, ...] = Field(
        default=(),
        max_length=8,
        description="Logins: the verified values a login with no identity link yet may be "
        "matched to an existing account on, in order. Empty: it may only create an account.",
    )
    groups: tuple[Annotated[Line, Field(max_length=512)], ...] | None = Field(
        default=None,
        max_length=1000,
        description="Logins: group names from the assertion; None = not sent.",
    )
    login_at: datetime | None = Field(default=None, description="Logins: when it happened.")


class UserUpserted(EnvelopeBase):
    """A source reports a person's current attributes."""

    type: Literal["user.upserted"] = "user.upserted"
    data: UserUpsertedData


class UserRef(Frozen):
    """Which user an event is about, and why."""

    user_id: Token
    reason: Text | None = Field(default=None, max_length=1024)
    expected_version: int | None = None


class UserDeactivated(EnvelopeBase):
    """A source says the person must lose access (SCIM active=false, the reconciler)."""

    type: Literal["user.deactivated"] = "user.deactivated"
    data: UserRef


class UserDeleted(EnvelopeBase):
    """A source deleted the person (SCIM DELETE)."""

    type: Literal["user.deleted"] = "user.deleted"
    data: UserRef


class GroupUpsertedData(Frozen):
    """A group as a source sees it; ``member_ids`` None leaves members as they are."""

    display_name: Line = Field(min_length=1, max_length=512)
    external_id: Line | None = Field(default=None, max_length=512)
    target_id: Token | None = None
    expected_version: int | None = None
    member_ids: tuple[Token, ...] | None = None
    extra: JsonObject = Field(default_factory=dict)


class GroupUpserted(EnvelopeBase):
    """A source reports a group (SCIM POST/PUT)."""

    type: Literal["group.upserted"] = "group.upserted"
    data: GroupUpsertedData


class GroupMembersChangedData(Frozen):
    """Members added to and removed from one group, by user id."""

    group_id: Token
    add: tuple[Token, ...] = ()
    remove: tuple[Token, ...] = ()
    display_name: Line | None = Field(
        default=None, min_length=1, max_length=512, description="A rename in the same PATCH."
    )
    expected_version: int | None = None


class GroupMembersChanged(EnvelopeBase):
    """A source changed a group's membership (SCIM PATCH on members)."""

    type: Literal["group.members_changed"] = "group.members_changed"
    data: GroupMembersChangedData


class GroupRef(Frozen):
    """Which group an event is about."""

    group_id: Token
    expected_version: int | None = None


class GroupDeleted(EnvelopeBase):
    """A source deleted a group."""

    type: Literal["group.deleted"] = "group.deleted"
    data: GroupRef


IngestEvent = Annotated[
    UserUpserted
    | UserDeactivated
    | UserDeleted
    | GroupUpserted
    | GroupMembersChanged
    | GroupDeleted,
    Field(discriminator="type"),
]
"""Any event on ``roster.ingest``, decoded by its ``type``."""

INGEST_ADAPTER: TypeAdapter[IngestEvent] = TypeAdapter(IngestEvent)
