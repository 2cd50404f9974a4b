"""Identity resolution's look-ups (docs/design.md, "Identity resolution"): how an event finds the
account it means — by id, ``externalId`` or ``userName`` for SCIM (rule 1), by identity link or a
verified e-mail for a login (rule 2) — and the uniqueness a SCIM write must keep (rule 4).

The look-ups read through the batch's :class:`~user_store.lookups.UserLookups` where they can.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from roster_shared.events.people import UserAttributes
from sqlmodel import col, select

from user_store.apply.writes import RowWrites
from user_store.errors import NotFound, Uniqueness
from user_store.identity import name_key, same_link_key
from user_store.lookups import MISS
from user_store.tables import IdentityLinkRow, UserEmailRow, UserRow


def named(key: str, *, live: bool) -> sa.ColumnElement[bool]:
    """Accounts with the userName key ``key``: live ones, or (``live=False``) live or deleted —
    then one arm per partial index (the live userName index, migration 0011's of deleted
    accounts), since a condition on the name alone matches neither: a table scan."""
    live_one = sa.and_(col(UserRow.user_name_key) == key, col(UserRow.deleted_at).is_(None))
    if live:
        return live_one
    deleted = sa.and_(col(UserRow.user_name_key) == key, col(UserRow.deleted_at).is_not(None))
    return sa.or_(live_one, deleted)


class Resolution(RowWrites):
    """Finders of live (and, where a rule needs it, deleted) accounts of the tenant.

    A :class:`RowWrites` because an e-mail look-up must first write the fast path's deferred
    e-mail rows.
    """

    async def _one_user(self, *conditions: Any) -> UserRow | None:
        result = await self.session.execute(
            select(UserRow).where(UserRow.tenant_id == self.tenant.id, *conditions).limit(1)
        )
        return result.scalars().first()

    async def _live_user(self, user_id: str) -> UserRow:
        cached = self.lookups.by_id(self.tenant.id, user_id)
        if cached is MISS:
            row = await self._one_user(UserRow.id == user_id, col(UserRow.deleted_at).is_(None))
            if row is not None:
                self.lookups.remember(row)
        else:
            row = cached  # type: ignore[assignment]
        if row is None:
            raise NotFound(f"no user {user_id}")
        return row

    async def _by_external_id(self, external_id: str | None) -> UserRow | None:
        if not external_id:
            return None
        cached = self.lookups.by_external_id(self.tenant.id, external_id)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        row = await self._one_user(
            UserRow.external_id == external_id,
            col(UserRow.deleted_at).is_(None),
        )
        if row is not None:
            self.lookups.remember(row)
        return row

    async def _by_user_name(self, user_name: str, *, live: bool = True) -> UserRow | None:
        key = name_key(user_name)
        cached = (
            self.lookups.by_name(self.tenant.id, key)
            if live
            else self.lookups.by_name_any(self.tenant.id, key)
        )
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        row = await self._one_user(named(key, live=live))
        if row is not None:
            self.lookups.remember(row)
        return row

    async def _by_link(self, issuer: str, subject: str) -> UserRow | None:
        cached = self.lookups.by_link(self.tenant.id, issuer, subject)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        result = await self.session.execute(
            select(UserRow)
            .join(IdentityLinkRow, col(IdentityLinkRow.user_id) == col(UserRow.id))
            .where(
                IdentityLinkRow.tenant_id == self.tenant.id,
                IdentityLinkRow.issuer == issuer,
                IdentityLinkRow.subject == subject,
            )
        )
        return result.scalars().first()

    async def _by_email_value(self, address: str) -> UserRow | None:
        """The one live account holding ``address`` among its e-mails (a verified key)."""
        await self._drain_email_sink()
        result = await self.session.execute(
            select(UserRow, UserEmailRow.value)
            .join(UserEmailRow, col(UserEmailRow.user_id) == col(UserRow.id))
            .where(
                UserEmailRow.tenant_id == self.tenant.id,
                col(UserEmailRow.value_key) == name_key(address),
                col(UserRow.deleted_at).is_(None),
            )
        )
        found = {row.id: row for row, value in result.all() if same_link_key(value, address)}
        # Only an unambiguous match links; two accounts sharing an address link neither.
        return next(iter(found.values())) if len(found) == 1 else None

    async def _ensure_unique(self, user: UserRow | None, attributes: UserAttributes) -> None:
        own_id = user.id if user else None
        other = await self._by_user_name(attributes.user_name)
        if other is not None and other.id != own_id:
            raise Uniqueness(
                f"userName {attributes.user_name!r} is taken by user {other.id}",
                existing_id=other.id,
            )
        other = await self._by_external_id(attributes.external_id)
        if other is not None and other.id != own_id:
            raise Uniqueness(
                f"externalId {attributes.external_id!r} is taken by user {other.id}",
                existing_id=other.id,
            )

    async def _link_from(self, user: UserRow, issuer: str) -> IdentityLinkRow | None:
        result = await self.session.execute(
            select(IdentityLinkRow)
            .where(
                IdentityLinkRow.tenant_id == self.tenant.id,
                IdentityLinkRow.user_id == user.id,
                IdentityLinkRow.issuer == issuer,
            )
            .limit(1)
        )
        return result.scalars().first()
