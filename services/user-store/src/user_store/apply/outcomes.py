"""What applying an event produces: the reply to the waiting request, and the lifecycle events
(``roster.lifecycle``) and user snapshots (``roster.users``) to publish with it.

An update of a user bumps its version (rule 7) where the change is reported
(:meth:`Outcomes._finish_update`), and records why an account was deactivated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from roster_shared.events import lifecycle
from roster_shared.events.envelope import EnvelopeBase, new_id
from roster_shared.events.people import GroupSnapshot, UserSnapshot
from roster_shared.events.replies import Reply

from user_store.apply.writes import RowWrites
from user_store.snapshots import linked_snapshot, load_group_snapshot, load_user_snapshot
from user_store.tables import GroupRow, UserRow


@dataclass
class Outcome:
    """What applying one event produced: the reply and the lifecycle events to publish."""

    reply: Reply
    events: list[EnvelopeBase] = field(default_factory=list)
    users: list[UserSnapshot] = field(default_factory=list)
    deleted_users: list[str] = field(default_factory=list)


class Outcomes(RowWrites):
    """Builds outcomes and the lifecycle events of users, groups and memberships."""

    def _envelope(self, event: EnvelopeBase) -> dict[str, Any]:
        return {
            "event_id": new_id(),
            "occurred_at": self.now,
            "tenant_id": self.tenant.id,
            "source": event.source,
            "correlation_id": event.correlation_id or event.event_id,
        }

    async def _user_outcome(
        self,
        event: EnvelopeBase,
        user: UserRow,
        kind: type[
            lifecycle.UserCreated
            | lifecycle.UserUpdated
            | lifecycle.UserDeactivated
            | lifecycle.UserReactivated
            | lifecycle.UserDeleted
        ]
        | None,
        changed: Sequence[str],
        *,
        created: bool = False,
        reason: str | None = None,
        extra_events: Sequence[EnvelopeBase] = (),
        snapshot: UserSnapshot | None = None,
    ) -> Outcome:
        if snapshot is None:
            parts = self.known_parts.get(user.id) if self.known_parts is not None else None
            if parts is not None:
                snapshot = linked_snapshot(user, *parts)
            else:
                snapshot = await load_user_snapshot(self.session, user)
        outcome = Outcome(
            reply=Reply(
                request_id=event.event_id, tenant_id=self.tenant.id, user=snapshot, created=created
            ),
        )
        if kind is not None:
            change = lifecycle.UserChange(
                user=snapshot, changed=tuple(changed), reason=reason, caused_by=event.event_id
            )
            outcome.events.append(kind(**self._envelope(event), data=change))
            if kind is lifecycle.UserDeleted:
                outcome.deleted_users.append(user.id)
            else:
                outcome.users.append(snapshot)
        outcome.events.extend(extra_events)
        return outcome

    async def _finish_update(
        self,
        event: EnvelopeBase,
        user: UserRow,
        changed: list[str],
        *,
        created: bool = False,
        reason: str | None = None,
    ) -> Outcome:
        if not changed:
            return await self._user_outcome(event, user, None, (), created=created)
        kind: type[lifecycle.UserUpdated | lifecycle.UserDeactivated | lifecycle.UserReactivated]
        kind = lifecycle.UserUpdated
        if "active" in changed:
            kind = lifecycle.UserReactivated if user.active else lifecycle.UserDeactivated
            if user.active:
                user.deactivated_reason = None
            else:
                user.deactivated_reason = reason or f"deactivated by {event.source}"
        user.version += 1
        user.updated_at = self.now
        if not self.fast:
            # Fast path: flushed with the batch; a unique index refusing it then aborts the
            # batch, and the safe pass flushes here, where the refusal becomes a reply.
            await self._flush()
        self.lookups.remember(user)
        if "emails" in changed:
            await self._write_emails(user)
        return await self._user_outcome(event, user, kind, changed, created=created, reason=reason)

    def _membership_event(
        self,
        event: EnvelopeBase,
        group: GroupRow,
        user: UserRow,
        kind: type[lifecycle.MembershipAdded | lifecycle.MembershipRemoved],
    ) -> EnvelopeBase:
        return kind(
            **self._envelope(event),
            data=lifecycle.Membership(
                group_id=group.id,
                group_display_name=group.display_name,
                user_id=user.id,
                user_name=user.user_name,
                caused_by=event.event_id,
            ),
        )

    async def _group_outcome(
        self,
        event: EnvelopeBase,
        group: GroupRow,
        kind: type[lifecycle.GroupCreated | lifecycle.GroupUpdated | lifecycle.GroupDeleted] | None,
        changed: Sequence[str],
        member_events: Sequence[EnvelopeBase],
        *,
        created: bool = False,
        snapshot: GroupSnapshot | None = None,
    ) -> Outcome:
        await self._flush()
        snapshot = snapshot or await load_group_snapshot(self.session, group)
        outcome = Outcome(
            reply=Reply(
                request_id=event.event_id, tenant_id=self.tenant.id, group=snapshot, created=created
            )
        )
        if kind is not None:
            outcome.events.append(
                kind(
                    **self._envelope(event),
                    data=lifecycle.GroupChange(
                        group=snapshot, changed=tuple(changed), caused_by=event.event_id
                    ),
                )
            )
        outcome.events.extend(member_events)
        return outcome
