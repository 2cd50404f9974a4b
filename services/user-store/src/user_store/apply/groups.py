"""Groups and memberships: SCIM's groups (create, replace, PATCH of members, delete) and the
login-made groups whose memberships follow a login's group claims. A login never changes SCIM's
groups.

A member is a user or a group (RFC 7643 §4.2): an id is looked up among the tenant's users,
then its groups. A user's membership is a ``membership.*`` event; a group's nesting shows in the
parent's ``group.updated`` (``changed`` names ``member_groups``). Groups never nest in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

from roster_shared.events import ingest, lifecycle
from roster_shared.events.envelope import EnvelopeBase, Source, new_id
from sqlalchemy import delete, or_
from sqlmodel import col, select

from user_store.apply.login_groups import login_group_plan, wanted_groups
from user_store.apply.outcomes import Outcome, Outcomes
from user_store.apply.writes import check_version
from user_store.errors import Invalid, NotFound, Refused, Uniqueness
from user_store.identity import name_key
from user_store.snapshots import load_group_snapshot
from user_store.tables import GroupNestingRow, GroupRow, MembershipRow, UserRow

NESTED = "member_groups"
"""What ``changed`` names when a group's nested groups changed."""


class Groups(Outcomes):
    """Group events, and the membership writes user events make (deletes, login group claims)."""

    async def _live_group(self, group_id: str) -> GroupRow:
        result = await self.session.execute(
            select(GroupRow).where(GroupRow.tenant_id == self.tenant.id, GroupRow.id == group_id)
        )
        row = result.scalars().first()
        if row is None:
            raise NotFound(f"no group {group_id}")
        return row

    async def _members_exist(
        self, member_ids: Sequence[str]
    ) -> tuple[dict[str, UserRow], dict[str, GroupRow]]:
        """The users and the groups ``member_ids`` name; 400 when one names neither."""
        if not member_ids:
            return {}, {}
        rows = (
            (
                await self.session.execute(
                    select(UserRow).where(
                        UserRow.tenant_id == self.tenant.id,
                        col(UserRow.id).in_(list(member_ids)),
                        col(UserRow.deleted_at).is_(None),
                    )
                )
            )
            .scalars()
            .all()
        )
        users = {row.id: row for row in rows}
        rest = [mid for mid in member_ids if mid not in users]
        groups: dict[str, GroupRow] = {}
        if rest:
            found = await self.session.execute(
                select(GroupRow).where(
                    GroupRow.tenant_id == self.tenant.id, col(GroupRow.id).in_(rest)
                )
            )
            groups = {row.id: row for row in found.scalars().all()}
        missing = [mid for mid in rest if mid not in groups]
        if missing:
            raise Invalid(
                f"no such user(s) or group(s) to add as members: {', '.join(missing[:5])}"
            )
        return users, groups

    async def _nested_ids(self, group_ids: Sequence[str]) -> set[str]:
        """The groups that are members of any of ``group_ids``."""
        rows = await self.session.execute(
            select(GroupNestingRow.member_group_id).where(
                col(GroupNestingRow.group_id).in_(list(group_ids))
            )
        )
        return set(rows.scalars().all())

    async def _refuse_cycle(self, parent: GroupRow, child: GroupRow) -> None:
        """A group may not contain itself, directly or through the groups it contains."""
        seen: set[str] = set()
        frontier = {child.id}
        while frontier:
            if parent.id in frontier:
                raise Invalid(
                    f"group {child.id} cannot be a member of group {parent.id}: "
                    "it would contain itself"
                )
            seen |= frontier
            frontier = await self._nested_ids(list(frontier)) - seen

    async def _add_member(
        self, event: EnvelopeBase, group: GroupRow, user: UserRow
    ) -> EnvelopeBase:
        self.session.add(
            MembershipRow(group_id=group.id, user_id=user.id, tenant_id=self.tenant.id)
        )
        return self._membership_event(event, group, user, lifecycle.MembershipAdded)

    async def _remove_member(
        self, event: EnvelopeBase, group: GroupRow, user: UserRow
    ) -> EnvelopeBase:
        await self.session.execute(
            delete(MembershipRow).where(
                MembershipRow.group_id == group.id,  # type: ignore[arg-type]
                MembershipRow.user_id == user.id,  # type: ignore[arg-type]
            )
        )
        return self._membership_event(event, group, user, lifecycle.MembershipRemoved)

    async def _member_ids(self, group: GroupRow) -> set[str]:
        """The ids of the group's members: users and nested groups."""
        rows = await self.session.execute(
            select(MembershipRow.user_id).where(MembershipRow.group_id == group.id)
        )
        return set(rows.scalars().all()) | await self._nested_ids([group.id])

    async def _set_members(
        self, event: EnvelopeBase, group: GroupRow, add: Sequence[str], remove: Sequence[str]
    ) -> tuple[list[EnvelopeBase], bool]:
        """Add and remove members; the users' membership events, and whether nested groups
        changed."""
        current = await self._member_ids(group)
        to_add = [mid for mid in dict.fromkeys(add) if mid not in current]
        to_remove = [mid for mid in dict.fromkeys(remove) if mid in current]
        users, groups = await self._members_exist(to_add)
        events = [
            await self._add_member(event, group, users[mid]) for mid in to_add if mid in users
        ]
        nested = False
        for mid in to_add:
            if mid in groups:
                await self._refuse_cycle(group, groups[mid])
                self.session.add(
                    GroupNestingRow(
                        group_id=group.id, member_group_id=mid, tenant_id=self.tenant.id
                    )
                )
                await self._flush()
                nested = True
        if to_remove:
            removed = (
                (await self.session.execute(select(UserRow).where(col(UserRow.id).in_(to_remove))))
                .scalars()
                .all()
            )
            events += [await self._remove_member(event, group, user) for user in removed]
            gone = [mid for mid in to_remove if mid not in {u.id for u in removed}]
            if gone:
                await self.session.execute(
                    delete(GroupNestingRow).where(
                        GroupNestingRow.group_id == group.id,  # type: ignore[arg-type]
                        col(GroupNestingRow.member_group_id).in_(gone),
                    )
                )
                nested = True
        return events, nested

    async def _group_unique(
        self, group: GroupRow | None, name: str, external_id: str | None
    ) -> None:
        own_id = group.id if group else None
        clash = (
            (
                await self.session.execute(
                    select(GroupRow).where(
                        GroupRow.tenant_id == self.tenant.id,
                        GroupRow.display_name_key == name_key(name),
                    )
                )
            )
            .scalars()
            .first()
        )
        if clash is not None and clash.id != own_id:
            raise Uniqueness(
                f"displayName {name!r} is taken by group {clash.id}", existing_id=clash.id
            )
        if external_id:
            clash = (
                (
                    await self.session.execute(
                        select(GroupRow).where(
                            GroupRow.tenant_id == self.tenant.id,
                            GroupRow.external_id == external_id,
                        )
                    )
                )
                .scalars()
                .first()
            )
            if clash is not None and clash.id != own_id:
                raise Uniqueness(
                    f"externalId {external_id!r} is taken by group {clash.id}", existing_id=clash.id
                )

    def _group_touched(
        self, group: GroupRow, changed: list[str], member_events: Sequence[EnvelopeBase]
    ) -> bool:
        if changed or member_events:
            group.version += 1
            group.updated_at = self.now
            return True
        return False

    async def group_upserted(self, event: ingest.GroupUpserted) -> Outcome:
        """SCIM POST (create) or PUT (replace, members included when given)."""
        self._refuse_login_source(event)
        data = event.data
        if data.target_id is None:
            await self._group_unique(None, data.display_name, data.external_id)
            group = GroupRow(
                id=new_id(),
                tenant_id=self.tenant.id,
                display_name=data.display_name,
                display_name_key=name_key(data.display_name),
                external_id=data.external_id,
                extra=dict(data.extra),
                origin="scim" if event.source is Source.SCIM else "admin",
                created_at=self.now,
                updated_at=self.now,
            )
            self.session.add(group)
            await self._flush()
            member_events, nested = await self._set_members(event, group, data.member_ids or (), ())
            return await self._group_outcome(
                event,
                group,
                lifecycle.GroupCreated,
                ("display_name", "external_id", "members", *((NESTED,) if nested else ())),
                member_events,
                created=True,
            )
        group = await self._live_group(data.target_id)
        check_version(data.expected_version, group.version, f"group {group.id}")
        await self._group_unique(group, data.display_name, data.external_id)
        changed = []
        for name, value in (("display_name", data.display_name), ("extra", dict(data.extra))):
            if getattr(group, name) != value:
                setattr(group, name, value)
                changed.append(name)
        if data.external_id != group.external_id and (
            data.external_id is not None or data.expected_version is not None
        ):
            # As for users: only a write at a known version may remove externalId.
            group.external_id = data.external_id
            changed.append("external_id")
        group.display_name_key = name_key(group.display_name)
        if group.origin == "jit" and event.source is Source.SCIM:
            group.origin = "scim"
            changed.append("origin")
        member_events = []
        if data.member_ids is not None:
            current = await self._member_ids(group)
            member_events, nested = await self._set_members(
                event,
                group,
                data.member_ids,
                [uid for uid in current if uid not in set(data.member_ids)],
            )
            if nested:
                changed.append(NESTED)
        touched = self._group_touched(group, changed, member_events)
        return (
            await self._group_outcome(
                event,
                group,
                lifecycle.GroupUpdated if changed else None,
                changed,
                member_events,
            )
            if touched
            else await self._group_outcome(event, group, None, (), ())
        )

    async def group_members_changed(self, event: ingest.GroupMembersChanged) -> Outcome:
        """SCIM PATCH: add and remove members (only those named), maybe rename."""
        self._refuse_login_source(event)
        data = event.data
        group = await self._live_group(data.group_id)
        check_version(data.expected_version, group.version, f"group {group.id}")
        changed = []
        if data.display_name is not None and data.display_name != group.display_name:
            await self._group_unique(group, data.display_name, None)
            group.display_name = data.display_name
            group.display_name_key = name_key(data.display_name)
            changed.append("display_name")
        member_events, nested = await self._set_members(event, group, data.add, data.remove)
        if nested:
            changed.append(NESTED)
        self._group_touched(group, changed, member_events)
        return await self._group_outcome(
            event, group, lifecycle.GroupUpdated if changed else None, changed, member_events
        )

    async def group_deleted(self, event: ingest.GroupDeleted) -> Outcome:
        """Delete a group and its memberships."""
        self._refuse_login_source(event)
        group = await self._live_group(event.data.group_id)
        check_version(event.data.expected_version, group.version, f"group {group.id}")
        snapshot = await load_group_snapshot(self.session, group)
        parents = await self._parents(group)
        await self.session.execute(delete(MembershipRow).where(MembershipRow.group_id == group.id))  # type: ignore[arg-type]
        await self.session.execute(
            delete(GroupNestingRow).where(
                or_(
                    col(GroupNestingRow.group_id) == group.id,
                    col(GroupNestingRow.member_group_id) == group.id,
                )
            )
        )
        await self.session.delete(group)
        outcome = await self._group_outcome(
            event, group, lifecycle.GroupDeleted, ("deleted",), (), snapshot=snapshot
        )
        # The groups it was a member of lost a member: a new version, and their update.
        for parent in parents:
            self._group_touched(parent, [NESTED], ())
            await self._flush()
            outcome.events.append(
                lifecycle.GroupUpdated(
                    **self._envelope(event),
                    data=lifecycle.GroupChange(
                        group=await load_group_snapshot(self.session, parent),
                        changed=(NESTED,),
                        caused_by=event.event_id,
                    ),
                )
            )
        return outcome

    async def _parents(self, group: GroupRow) -> list[GroupRow]:
        """The groups ``group`` is a member of."""
        rows = await self.session.execute(
            select(GroupRow)
            .join(GroupNestingRow, col(GroupNestingRow.group_id) == col(GroupRow.id))
            .where(GroupNestingRow.member_group_id == group.id)
        )
        return list(rows.scalars().all())

    @staticmethod
    def _refuse_login_source(event: EnvelopeBase) -> None:
        if event.source is Source.JIT:
            raise Refused("logins change groups only through their assertion's group claims")

    # -- groups a login made: its group claims decide their memberships ----------------

    async def _sync_login_groups(
        self, event: ingest.UserUpserted, user: UserRow
    ) -> list[EnvelopeBase]:
        """Memberships of login-made groups follow the assertion; SCIM's groups are SCIM's."""
        names = event.data.groups
        if names is None or not self.tenant.policy.jit_group_sync:
            return []
        await self._flush()
        wanted = wanted_groups(names)
        rows = (
            (
                await self.session.execute(
                    select(GroupRow).where(
                        GroupRow.tenant_id == self.tenant.id,
                        col(GroupRow.display_name_key).in_(list(wanted)),
                    )
                )
            )
            .scalars()
            .all()
        )
        groups = {row.display_name_key: row for row in rows}
        current = (
            (
                await self.session.execute(
                    select(GroupRow)
                    .join(MembershipRow, col(MembershipRow.group_id) == col(GroupRow.id))
                    .where(MembershipRow.user_id == user.id)
                )
            )
            .scalars()
            .all()
        )
        plan = login_group_plan(
            names,
            existing={key: row.origin for key, row in groups.items()},
            member_of={g.display_name_key: g.origin for g in current},
        )
        events: list[EnvelopeBase] = []
        for name in plan.create:
            row = GroupRow(
                id=new_id(),
                tenant_id=self.tenant.id,
                display_name=name,
                display_name_key=name_key(name),
                origin="jit",
                created_at=self.now,
                updated_at=self.now,
            )
            self.session.add(row)
            groups[row.display_name_key] = row
            await self._flush()
            events.append(
                lifecycle.GroupCreated(
                    **self._envelope(event),
                    data=lifecycle.GroupChange(
                        group=await load_group_snapshot(self.session, row),
                        changed=("display_name",),
                        caused_by=event.event_id,
                    ),
                )
            )
        for key in plan.join:
            events.append(await self._add_member(event, groups[key], user))
        leaving = {g.display_name_key: g for g in current}
        for key in plan.leave:
            events.append(await self._remove_member(event, leaving[key], user))
        return events
