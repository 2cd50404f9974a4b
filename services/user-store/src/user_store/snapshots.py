"""Building contract snapshots from rows (what replies, lifecycle events and reads carry)."""

from __future__ import annotations

from collections.abc import Sequence

from roster_shared.events.people import (
    Email,
    GroupSnapshot,
    IdentityLink,
    MemberRef,
    UserSnapshot,
)
from sqlalchemy import select
from sqlmodel.ext.asyncio.session import AsyncSession

from user_store.tables import GroupRow, IdentityLinkRow, MembershipRow, UserRow


def user_snapshot(
    row: UserRow, links: Sequence[IdentityLinkRow] = (), groups: Sequence[MemberRef] = ()
) -> UserSnapshot:
    """The contract view of a user row."""
    return UserSnapshot(
        id=row.id,
        tenant_id=row.tenant_id,
        user_name=row.user_name,
        external_id=row.external_id,
        active=row.active,
        display_name=row.display_name,
        given_name=row.given_name,
        family_name=row.family_name,
        emails=tuple(Email.model_validate(e) for e in row.emails),
        extra=row.extra,
        origin=row.origin,  # type: ignore[arg-type]
        scim_managed=row.scim_managed,
        identity_links=tuple(
            IdentityLink(issuer=link.issuer, subject=link.subject,
                         subject_format=link.subject_format)
            for link in links
        ),
        groups=tuple(groups),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_login_at=row.last_login_at,
        deactivated_reason=row.deactivated_reason,
    )


async def load_user_snapshot(session: AsyncSession, row: UserRow) -> UserSnapshot:
    """A user's snapshot with its identity links and groups."""
    links = (
        await session.execute(
            select(IdentityLinkRow).where(IdentityLinkRow.user_id == row.id)  # type: ignore[arg-type]
        )
    ).scalars().all()
    groups = (
        await session.execute(
            select(GroupRow.id, GroupRow.display_name)  # type: ignore[call-overload]
            .join(MembershipRow, MembershipRow.group_id == GroupRow.id)
            .where(MembershipRow.user_id == row.id)
            .order_by(GroupRow.display_name_key)
        )
    ).all()
    return user_snapshot(row, links, [MemberRef(id=g.id, display=g.display_name) for g in groups])


async def load_group_snapshot(session: AsyncSession, row: GroupRow) -> GroupSnapshot:
    """A group's snapshot with its members."""
    members = (
        await session.execute(
            select(UserRow.id, UserRow.user_name)  # type: ignore[call-overload]
            .join(MembershipRow, MembershipRow.user_id == UserRow.id)
            .where(MembershipRow.group_id == row.id)
            .order_by(UserRow.user_name_key)
        )
    ).all()
    return GroupSnapshot(
        id=row.id,
        tenant_id=row.tenant_id,
        display_name=row.display_name,
        external_id=row.external_id,
        members=tuple(MemberRef(id=m.id, display=m.user_name) for m in members),
        extra=row.extra,
        origin=row.origin,  # type: ignore[arg-type]
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
