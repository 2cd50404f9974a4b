"""Lifecycle events on ``roster.lifecycle``: canonical changes, published by the user-store only.

These are what downstream apps consume. Each carries the full snapshot after the change (so a
consumer never has to call back) and the names of the attributes that changed. They leave the
user-store through its transactional outbox: a stored change and its event are never one without
the other, and ``event_id`` is stable across redelivery so consumers can de-duplicate.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from roster_shared.events.envelope import EnvelopeBase, Frozen
from roster_shared.events.people import GroupSnapshot, UserSnapshot


class UserChange(Frozen):
    """A user after a change, and what changed."""

    user: UserSnapshot
    changed: tuple[str, ...] = Field(default=(), description="Attribute names that changed.")
    reason: str | None = Field(default=None, description="Why, when a source gave a reason.")
    caused_by: str | None = Field(default=None, description="The ingestion event id.")


class GroupChange(Frozen):
    """A group after a change, and what changed."""

    group: GroupSnapshot
    changed: tuple[str, ...] = ()
    caused_by: str | None = None


class Membership(Frozen):
    """One user's membership in one group."""

    group_id: str
    group_display_name: str
    user_id: str
    user_name: str
    caused_by: str | None = None


class UserCreated(EnvelopeBase):
    """A new account exists."""

    type: Literal["user.created"] = "user.created"
    data: UserChange


class UserUpdated(EnvelopeBase):
    """Attributes of an account changed (including an IdP rename or a SCIM adoption)."""

    type: Literal["user.updated"] = "user.updated"
    data: UserChange


class UserDeactivated(EnvelopeBase):
    """The account lost access; sessions must end."""

    type: Literal["user.deactivated"] = "user.deactivated"
    data: UserChange


class UserReactivated(EnvelopeBase):
    """A deactivated account is active again."""

    type: Literal["user.reactivated"] = "user.reactivated"
    data: UserChange


class UserDeleted(EnvelopeBase):
    """The account is gone; ``data.user`` is its last state."""

    type: Literal["user.deleted"] = "user.deleted"
    data: UserChange


class GroupCreated(EnvelopeBase):
    """A new group exists."""

    type: Literal["group.created"] = "group.created"
    data: GroupChange


class GroupUpdated(EnvelopeBase):
    """A group was renamed or its attributes changed."""

    type: Literal["group.updated"] = "group.updated"
    data: GroupChange


class GroupDeleted(EnvelopeBase):
    """A group is gone; ``data.group`` is its last state."""

    type: Literal["group.deleted"] = "group.deleted"
    data: GroupChange


class MembershipAdded(EnvelopeBase):
    """A user joined a group."""

    type: Literal["membership.added"] = "membership.added"
    data: Membership


class MembershipRemoved(EnvelopeBase):
    """A user left a group."""

    type: Literal["membership.removed"] = "membership.removed"
    data: Membership


LifecycleEvent = Annotated[
    UserCreated
    | UserUpdated
    | UserDeactivated
    | UserReactivated
    | UserDeleted
    | GroupCreated
    | GroupUpdated
    | GroupDeleted
    | MembershipAdded
    | MembershipRemoved,
    Field(discriminator="type"),
]
"""Any event on ``roster.lifecycle``, decoded by its ``type``."""

LIFECYCLE_ADAPTER: TypeAdapter[LifecycleEvent] = TypeAdapter(LifecycleEvent)
