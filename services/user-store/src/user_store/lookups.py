"""A batch's view of the accounts its events name, read in one query instead of two per event.

Within one batch the consumer is the only writer of its tenants' users (a tenant's events live
on one partition, owned by one consumer), so what it read at the start stays true except for
what the batch itself changes — which every change reports back through :meth:`remember`.
A cached row is still checked against the key on every hit, so a rename or delete inside the
batch falls back to the database rather than answering wrongly. The same holds for identity
links, which only logins write: a link the batch makes or moves is recorded as it is made.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.identity import name_key
from user_store.tables import IdentityLinkRow, UserRow

Key = tuple[str, str]
LinkKey = tuple[str, str, str]
"""``(tenant, issuer, subject)``: a login's identity link."""
_MISS = object()


class Wanted(NamedTuple):
    """A batch's look-up of accounts: the values :func:`users_condition` binds, and its form."""

    params: dict[str, Any]
    with_deleted: bool
    """Whether the condition has the deleted accounts' arm."""

    @property
    def condition(self) -> sa.ColumnElement[bool]:
        """The condition on ``users`` these values are for."""
        return users_condition(self.with_deleted)


def _among(column: Any, name: str) -> sa.ColumnElement[bool]:
    return col(column).in_(sa.bindparam(name, expanding=True))


@lru_cache(maxsize=2)
def users_condition(with_deleted: bool) -> sa.ColumnElement[bool]:
    """:meth:`UserLookups.want`'s condition, built once per form (with the deleted arm or
    without), its keys bound at execution: building it and deriving SQLAlchemy's cache key for
    it on every batch cost more CPU than the statement's execution (~0.4 ms of a one-event
    batch's ~4, a login's or a lone SCIM request's). The SQL is the same as when it was built
    with the values: ``IN`` lists expanded from the bound lists, an empty one rendered as
    matching nothing."""
    live = sa.and_(
        _among(UserRow.tenant_id, "lookup_tenants"),
        col(UserRow.deleted_at).is_(None),
        or_(
            _among(UserRow.external_id, "lookup_external_ids"),
            _among(UserRow.user_name_key, "lookup_names"),
            _among(UserRow.id, "lookup_ids"),
        ),
    )
    if not with_deleted:
        return live
    deleted = sa.and_(
        _among(UserRow.tenant_id, "lookup_gone_tenants"),
        col(UserRow.deleted_at).is_not(None),
        _among(UserRow.user_name_key, "lookup_gone_names"),
    )
    return or_(live, deleted)


@lru_cache(maxsize=1)
def _links_statement() -> sa.Executable:
    """:meth:`UserLookups.prefetch_links`'s statement, built once (as :func:`users_condition`)."""
    return (
        select(IdentityLinkRow.tenant_id, IdentityLinkRow.issuer, IdentityLinkRow.subject, UserRow)
        .join(UserRow, col(UserRow.id) == col(IdentityLinkRow.user_id))
        .where(
            sa.tuple_(
                col(IdentityLinkRow.tenant_id),
                col(IdentityLinkRow.issuer),
                col(IdentityLinkRow.subject),
            ).in_(sa.bindparam("links", expanding=True))
        )
    )


class UserLookups:
    """Live users by ``(tenant, externalId)``, ``(tenant, userName key)`` and ``(tenant, id)``
    (the ids SCIM replaces name); None = absent."""

    def __init__(self) -> None:
        self._by_external_id: dict[Key, UserRow | None] = {}
        self._by_name: dict[Key, UserRow | None] = {}
        self._by_id: dict[Key, UserRow | None] = {}
        # A deleted account with the userName key, for the names the batch's logins carry
        # (None: none): where SCIM owns the lifecycle, a login must not bring such a person back.
        self._deleted_by_name: dict[Key, UserRow | None] = {}
        # Accounts by the identity link that points at them, deleted ones too (a login's rules
        # tell a deleted account from none); only the consumer writes links, in ``remember_link``.
        self._by_link: dict[LinkKey, UserRow | None] = {}

    async def prefetch(
        self,
        session: AsyncSession,
        wanted: Iterable[tuple[str, str | None, str]],
        ids: Iterable[Key] = (),
        deleted_names: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Load the users that ``(tenant, externalId, userName)`` triples may resolve to, those
        ``(tenant, id)`` pairs name, and the deleted ones with these names (:meth:`want`)."""
        want = self.want(wanted, ids, deleted_names)
        if want is None:
            return
        rows = await session.execute(select(UserRow).where(want.condition), want.params)
        self.loaded(rows.scalars().all())

    def want(
        self,
        wanted: Iterable[tuple[str, str | None, str]],
        ids: Iterable[Key] = (),
        deleted_names: Iterable[tuple[str, str]] = (),
    ) -> Wanted | None:
        """The condition on ``users`` that finds every live user these triples may resolve to
        and these ids name, and the deleted ones with these ``(tenant, userName)`` names, with
        the values it binds (None when there are none); their keys are known absent until
        :meth:`loaded` is given the rows it found — for a caller that reads them in a statement
        of its own (:func:`users_condition`).

        ``IN`` lists, not one array parameter per kind (``= ANY(:keys)``): that one statement
        prepared once measured slower (1,274 against 774 replaces/s in one run of
        ``bench/ingest_throughput.py``), PostgreSQL planning it without the values. Live and
        deleted accounts are two arms, each matching its partial index (the userName index of
        live accounts, migration 0011's of deleted ones): one condition on ``deleted_at`` for
        both made PostgreSQL scan the whole table (9 ms a batch at 18,000 users)."""
        external_ids: set[Key] = set()
        names: set[Key] = set()
        for tenant_id, external_id, user_name in wanted:
            if external_id:
                external_ids.add((tenant_id, external_id))
            names.add((tenant_id, name_key(user_name)))
        user_ids = set(ids)
        gone = {(tenant_id, name_key(name)) for tenant_id, name in deleted_names}
        if not names and not user_ids and not gone:
            return None
        for key in external_ids:
            self._by_external_id[key] = None
        for key in names:
            self._by_name[key] = None
        for key in user_ids:
            self._by_id[key] = None
        for key in gone:
            self._deleted_by_name[key] = None
        params: dict[str, Any] = {
            "lookup_tenants": list({tenant for tenant, _ in names | user_ids}),
            "lookup_external_ids": list({e for _, e in external_ids}),
            "lookup_names": list({k for _, k in names}),
            "lookup_ids": list({i for _, i in user_ids}),
        }
        if gone:
            params["lookup_gone_tenants"] = list({tenant for tenant, _ in gone})
            params["lookup_gone_names"] = list({k for _, k in gone})
        return Wanted(params, with_deleted=bool(gone))

    async def prefetch_links(self, session: AsyncSession, links: Iterable[LinkKey]) -> None:
        """Load the accounts these identity links point at (one statement for the batch's
        logins instead of one per login); a link not found is known absent."""
        wanted = set(links)
        if not wanted:
            return
        rows = await session.execute(_links_statement(), {"links": sorted(wanted)})
        for key in wanted:
            self._by_link[key] = None
        for tenant_id, issuer, subject, row in rows.all():
            self._by_link[(tenant_id, issuer, subject)] = row

    def by_link(self, tenant_id: str, issuer: str, subject: str) -> UserRow | object | None:
        """The account this link points at (deleted or not), None if known absent, ``MISS`` if
        unknown."""
        return self._by_link.get((tenant_id, issuer, subject), _MISS)

    def remember_link(self, tenant_id: str, issuer: str, subject: str, row: UserRow) -> None:
        """Record a link the batch made or moved to ``row``."""
        self._by_link[(tenant_id, issuer, subject)] = row

    def loaded(self, rows: Iterable[UserRow]) -> None:
        """The rows found by :meth:`want`'s condition."""
        for row in rows:
            if row.deleted_at is not None:
                key = (row.tenant_id, row.user_name_key)
                if key in self._deleted_by_name:
                    self._deleted_by_name[key] = row
            self.remember(row)

    def remember(self, row: UserRow) -> None:
        """Record a user the batch created or changed (or read)."""
        if row.deleted_at is not None:
            return
        if row.external_id:
            self._by_external_id[(row.tenant_id, row.external_id)] = row
        self._by_name[(row.tenant_id, row.user_name_key)] = row
        self._by_id[(row.tenant_id, row.id)] = row

    def by_external_id(self, tenant_id: str, external_id: str) -> UserRow | object | None:
        """The live user with this externalId, None if known absent, ``MISS`` if unknown."""
        row = self._by_external_id.get((tenant_id, external_id), _MISS)
        if isinstance(row, UserRow) and (row.external_id != external_id or row.deleted_at):
            return _MISS
        return row

    def by_name(self, tenant_id: str, key: str) -> UserRow | object | None:
        """The live user with this userName key, None if known absent, ``MISS`` if unknown."""
        row = self._by_name.get((tenant_id, key), _MISS)
        if isinstance(row, UserRow) and (row.user_name_key != key or row.deleted_at):
            return _MISS
        return row

    def by_name_any(self, tenant_id: str, key: str) -> UserRow | object | None:
        """An account with this userName key, live or deleted, None if known there is none,
        ``MISS`` if unknown (or changed by the batch since it was read)."""
        live = self.by_name(tenant_id, key)
        if live is not None:
            return live  # a live account, or MISS
        deleted = self._deleted_by_name.get((tenant_id, key), _MISS)
        if isinstance(deleted, UserRow) and (
            deleted.user_name_key != key or deleted.deleted_at is None
        ):
            return _MISS
        return deleted

    def by_id(self, tenant_id: str, user_id: str) -> UserRow | object | None:
        """The live user with this id, None if known absent (or deleted), ``MISS`` if unknown."""
        row = self._by_id.get((tenant_id, user_id), _MISS)
        if isinstance(row, UserRow) and row.deleted_at:
            return None
        return row

    def clear(self) -> None:
        """Forget everything (after a rollback, rows may no longer be what they say)."""
        self._by_external_id.clear()
        self._by_name.clear()
        self._by_id.clear()
        self._deleted_by_name.clear()
        self._by_link.clear()


MISS = _MISS
