"""Reads: get by id, and filtered, sorted lists paged by offset or by signed cursor.

Filters compile to SQL in :mod:`user_store.filter_sql`; here the pages are cut: a count, a stable
order (the sort attribute, then the id), and a keyset cursor that continues after the last row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from roster_shared.events.people import GroupSnapshot, UserSnapshot
from roster_shared.filters import ListQuery
from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.cursors import Cursors, Position
from user_store.errors import Invalid, InvalidCursor, InvalidFilter, NotFound
from user_store.filter_sql import (
    GROUP_FILTERS,
    USER_FILTERS,
    FilterCompiler,
    check_filter_size,
    parse_datetime,
    strip_urn,
)
from user_store.snapshots import group_snapshots, user_snapshots
from user_store.tables import GroupRow, UserRow

__all__ = ["InvalidFilter", "get_group", "get_user", "list_groups", "list_users"]


async def _page(
    session: AsyncSession,
    table: Any,
    tenant_id: str,
    live: Sequence[ColumnElement[bool]],
    compiler: FilterCompiler,
    query: ListQuery,
    cursors: Cursors,
) -> tuple[int, list[Any], str | None]:
    kind = table.__tablename__
    conditions: list[ColumnElement[bool]] = [table.tenant_id == tenant_id, *live]
    if query.filter is not None:
        check_filter_size(query.filter)
        conditions.append(compiler.compile(query.filter))
    sort_key = (query.sort_by or "meta.created").lower()
    attr = compiler.attrs.get(strip_urn(sort_key, compiler.urn))
    if attr is None or not attr.sortable:
        raise Invalid(f"cannot sort by {query.sort_by!r}")
    sort_column = (
        attr.column if attr.kind in ("datetime", "bool") else func.coalesce(attr.column, "")
    )
    statement = select(table).where(*conditions)
    if query.cursor is not None:
        position = cursors.read(kind, tenant_id, sort_key, query)
        value: Any = position.value
        last_id = position.id
        if attr.kind == "datetime":
            try:
                value = parse_datetime(value)
            except InvalidFilter as exc:  # pragma: no cover - we minted it
                raise InvalidCursor("the cursor is malformed") from exc
        after = (sort_column < value) if query.descending else (sort_column > value)
        statement = statement.where(
            or_(
                after,
                and_(
                    sort_column == value,
                    (table.id < last_id) if query.descending else (table.id > last_id),
                ),
            )
        )
    order = [sort_column.desc(), table.id.desc()] if query.descending else [sort_column, table.id]
    statement = statement.order_by(*order).limit(query.count)
    if query.cursor is None and query.start_index > 1:
        statement = statement.offset(query.start_index - 1)
    rows = list((await session.execute(statement)).scalars().all())
    if query.cursor is None and query.start_index == 1 and len(rows) < query.count:
        # The whole result is on this first page: its size is the total, without a COUNT
        # (an IdP's `userName eq` lookup is this case; one statement less per lookup).
        total = len(rows)
    else:
        total = (
            await session.execute(select(func.count()).select_from(table).where(*conditions))
        ).scalar_one()
    next_cursor = None
    if rows and len(rows) == query.count:
        last = rows[-1]
        raw = getattr(last, attr.column.key)
        if attr.kind == "key" or attr.kind == "ci" or attr.kind == "ce":
            raw = raw or ""
        next_cursor = cursors.mint(
            kind,
            tenant_id,
            sort_key,
            query,
            Position(raw.isoformat() if isinstance(raw, datetime) else raw, last.id),
        )
    return int(total), rows, next_cursor


async def get_user(session: AsyncSession, tenant_id: str, user_id: str) -> UserSnapshot:
    """One live user of the tenant; other tenants' ids are not found."""
    row = (
        (
            await session.execute(
                select(UserRow).where(
                    UserRow.tenant_id == tenant_id,
                    UserRow.id == user_id,
                    col(UserRow.deleted_at).is_(None),
                )
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound(f"no user {user_id}")
    return (await user_snapshots(session, [row]))[0]


async def list_users(
    session: AsyncSession, tenant_id: str, query: ListQuery, *, cursors: Cursors
) -> tuple[int, list[UserSnapshot], str | None]:
    """A filtered, sorted page of the tenant's live users."""
    total, rows, cursor = await _page(
        session,
        UserRow,
        tenant_id,
        [col(UserRow.deleted_at).is_(None)],
        USER_FILTERS,
        query,
        cursors,
    )
    return total, await user_snapshots(session, rows), cursor


async def get_group(
    session: AsyncSession, tenant_id: str, group_id: str, *, members: bool = True
) -> GroupSnapshot:
    """One group of the tenant."""
    row = (
        (
            await session.execute(
                select(GroupRow).where(GroupRow.tenant_id == tenant_id, GroupRow.id == group_id)
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise NotFound(f"no group {group_id}")
    return (await group_snapshots(session, [row], members=members))[0]


async def list_groups(
    session: AsyncSession,
    tenant_id: str,
    query: ListQuery,
    *,
    cursors: Cursors,
    members: bool = True,
) -> tuple[int, list[GroupSnapshot], str | None]:
    """A filtered, sorted page of the tenant's groups."""
    total, rows, cursor = await _page(
        session, GroupRow, tenant_id, [], GROUP_FILTERS, query, cursors
    )
    return total, await group_snapshots(session, rows, members=members), cursor
