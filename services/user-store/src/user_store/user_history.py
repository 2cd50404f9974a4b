"""A user's lifecycle history, for the console's user page.

The outbox is relayed and then deleted, so without this table nothing in the database says what
happened to a user. Every user and membership lifecycle event the consumer publishes is also
written here, by the consumer, in the same transaction as its outbox row
(``IngestBatch.write``): the history and ``roster.lifecycle`` cannot disagree. Rows keep only
what an operator needs — when, the event type, its source, correlation id, the names of the
changed attributes and the source's reason — never attribute values, so nothing secret lands
here. The housekeeper deletes rows older than the retention (``ROSTER_HISTORY_DAYS``), which
bounds the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from roster_shared.events import lifecycle
from roster_shared.events.envelope import EnvelopeBase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from user_store.db import as_utc
from user_store.errors import Invalid, NotFound
from user_store.keys import READ_SESSIONS
from user_store.tables import UserRow, metadata

MAX_PAGE = 200
REASON_CHARS = 300

user_history = sa.Table(
    "user_history",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("changed", sa.JSON, nullable=False),
    sa.Column("reason", sa.String(REASON_CHARS), nullable=True),
    sa.Column("group_name", sa.String(256), nullable=True),
    sa.Index("ix_user_history_user", "tenant_id", "user_id", "id"),
)

_USER_EVENTS = (
    lifecycle.UserCreated,
    lifecycle.UserUpdated,
    lifecycle.UserDeactivated,
    lifecycle.UserReactivated,
    lifecycle.UserDeleted,
)


def history_row(event: EnvelopeBase) -> dict[str, Any] | None:
    """The history row of a lifecycle event about one user; None for group events."""
    common = {
        "tenant_id": event.tenant_id,
        "at": event.occurred_at,
        "type": getattr(event, "type", ""),
        "source": str(event.source),
        "correlation_id": event.correlation_id,
        "event_id": event.event_id,
    }
    if isinstance(event, _USER_EVENTS):
        reason = event.data.reason
        return common | {
            "user_id": event.data.user.id,
            "changed": list(event.data.changed),
            "reason": reason[:REASON_CHARS] if reason else None,
            "group_name": None,
        }
    if isinstance(event, lifecycle.MembershipAdded | lifecycle.MembershipRemoved):
        return common | {
            "user_id": event.data.user_id,
            "changed": ["groups"],
            "reason": None,
            "group_name": event.data.group_display_name[:256],
        }
    return None


async def prune_history(sessions: async_sessionmaker[AsyncSession], older_than: datetime) -> int:
    """Delete history rows older than ``older_than``."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            sa.delete(user_history).where(user_history.c.at < older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


async def read_history(
    session: AsyncSession, tenant_id: str, user_id: str, *, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of one user's history, newest first, and the ``before`` of the next page."""
    owner = await session.execute(
        sa.select(col(UserRow.id)).where(
            col(UserRow.tenant_id) == tenant_id, col(UserRow.id) == user_id
        )
    )
    # Deleted users keep their row (soft delete), so their history stays readable; a user of
    # another tenant is not found, exactly as on the other /internal user routes.
    if owner.first() is None:
        raise NotFound(f"no user {user_id}")
    query = sa.select(user_history).where(
        user_history.c.tenant_id == tenant_id, user_history.c.user_id == user_id
    )
    if before is not None:
        query = query.where(user_history.c.id < before)
    rows = (await session.execute(query.order_by(user_history.c.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        {
            "at": as_utc(row.at).isoformat(),
            "type": row.type,
            "source": row.source,
            "correlation_id": row.correlation_id,
            "event_id": row.event_id,
            "changed": list(row.changed or ()),
            "reason": row.reason,
            "group": row.group_name,
        }
        for row in rows
    ]
    return entries, (rows[-1].id if more else None)


routes = web.RouteTableDef()


def _number(request: web.Request, name: str, default: int | None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Invalid(f"{name} must be a whole number") from exc
    if value < 1:
        raise Invalid(f"{name} must be at least 1")
    return value


@routes.get("/internal/tenants/{tenant_id}/users/{user_id}/history")
async def history(request: web.Request) -> web.Response:
    """``?limit=50&before=<next>``: a page of the user's lifecycle events, newest first."""
    limit = min(_number(request, "limit", 50) or 50, MAX_PAGE)
    before = _number(request, "before", None)
    async with request.app[READ_SESSIONS]() as session:
        entries, after = await read_history(
            session,
            request.match_info["tenant_id"],
            request.match_info["user_id"],
            limit=limit,
            before=before,
        )
    return web.json_response({"entries": entries, "next": after})
