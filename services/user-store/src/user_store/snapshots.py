"""Building contract snapshots from rows (what replies, lifecycle events and reads carry)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from roster_shared.events.people import (
    GroupSnapshot,
    IdentityLink,
    MemberRef,
    UserSnapshot,
)
from roster_shared.hot_rows import USER_COLUMNS
from roster_shared.hot_rows import user_snapshot as user_snapshot_of
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.tables import GroupNestingRow, GroupRow, IdentityLinkRow, MembershipRow, UserRow


def user_snapshot(
    row: UserRow, links: Sequence[IdentityLinkRow] = (), groups: Sequence[MemberRef] = ()
) -> UserSnapshot:
    """The contract view of a user row."""
    return linked_snapshot(
        row,
        [
            IdentityLink(
                issuer=link.issuer, subject=link.subject, subject_format=link.subject_format
            )
            for link in links
        ],
        groups,
    )


def linked_snapshot(
    row: UserRow, links: Sequence[IdentityLink], groups: Sequence[MemberRef]
) -> UserSnapshot:
    """The contract view of a user row with its links and groups already in contract form."""
    # The loaded values straight from the row's __dict__: every snapshot reads 18 columns, and
    # the ORM's attribute access per column was ~4 % of the ingest profile (issue 10). A value
    # not there (expired by a flush) goes through the ORM, which loads it.
    loaded = row.__dict__
    values = {name: loaded[name] if name in loaded else getattr(row, name) for name in USER_COLUMNS}
    return user_snapshot_of(values, links, groups)


def group_snapshot(
    row: GroupRow, members: Sequence[MemberRef] = (), member_groups: Sequence[MemberRef] = ()
) -> GroupSnapshot:
    """The contract view of a group row."""
    return GroupSnapshot(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        external_id=row.external_id,
        members=tuple(members),
        member_groups=tuple(member_groups),
        extra=row.extra,
        origin=row.origin,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _links_and_groups() -> sa.Select[Any]:
    """The identity links and the groups of the users ``:ids``, one ``UNION ALL``, built once
    (its compilation is cached by SQLAlchemy under the statement's key)."""
    link, member, group = (
        IdentityLinkRow.__table__.c,  # type: ignore[attr-defined]
        MembershipRow.__table__.c,  # type: ignore[attr-defined]
        GroupRow.__table__.c,  # type: ignore[attr-defined]
    )
    ids: sa.BindParameter[Any] = sa.bindparam("ids", expanding=True)
    no_text = sa.cast(sa.null(), sa.Text)
    links = sa.select(
        sa.literal(0).label("kind"),
        link.user_id.label("user_id"),
        link.issuer.label("a"),
        link.subject.label("b"),
        link.subject_format.label("c"),
        no_text.label("sort_key"),
        link.created_at.label("at"),
    ).where(link.user_id.in_(ids))
    groups_of = (
        sa.select(
            sa.literal(1),
            member.user_id,
            group.id,
            group.display_name,
            no_text,
            group.display_name_key,
            sa.cast(sa.null(), sa.DateTime(timezone=True)),
        )
        .select_from(
            MembershipRow.__table__.join(  # type: ignore[attr-defined]
                GroupRow.__table__,  # type: ignore[attr-defined]
                group.id == member.group_id,
            )
        )
        .where(member.user_id.in_(ids))
    )
    both = sa.union_all(links, groups_of).subquery()
    return sa.select(both).order_by(both.c.kind, both.c.sort_key, both.c.at, both.c.a)


_LINKS_AND_GROUPS = _links_and_groups()


async def user_snapshots(session: AsyncSession, rows: Sequence[UserRow]) -> list[UserSnapshot]:
    """Snapshots of many users with one extra statement in all: their identity links and their
    groups, as one ``UNION ALL`` (every read and every reply builds snapshots, and each round
    trip to the database counts: issue 10)."""
    parts = await snapshot_parts(session, [row.id for row in rows])
    return [linked_snapshot(row, *parts[row.id]) for row in rows]


async def snapshot_parts(
    session: AsyncSession, ids: Sequence[str]
) -> dict[str, tuple[list[IdentityLink], list[MemberRef]]]:
    """The identity links and groups of each of these users (empty lists for none)."""
    parts: dict[str, tuple[list[IdentityLink], list[MemberRef]]] = {i: ([], []) for i in ids}
    if not ids:
        return parts
    for kind, user_id, a, b, c, _, _ in (
        await session.execute(_LINKS_AND_GROUPS, {"ids": list(parts)})
    ).all():
        if kind == 0:
            parts[user_id][0].append(IdentityLink(issuer=a, subject=b, subject_format=c))
        else:
            parts[user_id][1].append(MemberRef(id=a, display=b))
    return parts


async def group_snapshots(
    session: AsyncSession, rows: Sequence[GroupRow], *, members: bool = True
) -> list[GroupSnapshot]:
    """Snapshots of many groups; ``members=False`` skips loading them (excludedAttributes)."""
    ids = [row.id for row in rows]
    found: dict[str, list[MemberRef]] = {}
    nested: dict[str, list[MemberRef]] = {}
    if ids and members:
        for group_id, user_id, user_name in (
            await session.execute(
                select(MembershipRow.group_id, UserRow.id, UserRow.user_name)
                .join(UserRow, col(UserRow.id) == col(MembershipRow.user_id))
                .where(col(MembershipRow.group_id).in_(ids))
                .order_by(col(UserRow.user_name_key))
            )
        ).all():
            found.setdefault(group_id, []).append(MemberRef(id=user_id, display=user_name))
        for group_id, member_id, name in (
            await session.execute(
                select(GroupNestingRow.group_id, GroupRow.id, GroupRow.display_name)
                .join(GroupRow, col(GroupRow.id) == col(GroupNestingRow.member_group_id))
                .where(col(GroupNestingRow.group_id).in_(ids))
                .order_by(col(GroupRow.display_name_key))
            )
        ).all():
            nested.setdefault(group_id, []).append(MemberRef(id=member_id, display=name))
    return [group_snapshot(row, found.get(row.id, ()), nested.get(row.id, ())) for row in rows]


async def load_user_snapshot(session: AsyncSession, row: UserRow) -> UserSnapshot:
    """One user's snapshot with its identity links and groups."""
    return (await user_snapshots(session, [row]))[0]


async def load_group_snapshot(session: AsyncSession, row: GroupRow) -> GroupSnapshot:
    """One group's snapshot with its members."""
    return (await group_snapshots(session, [row]))[0]
