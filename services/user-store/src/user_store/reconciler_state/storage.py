"""The reconciler's storage: a lease per tenant (exactly one instance runs a tenant at a time),
the run records an admin reads, a small state document per tenant, and the lean scan of a
tenant's users a run decides on.

The lease is a row per tenant taken with a conditional ``UPDATE`` (``holder`` is the caller, or
the lease expired) or, when there is no row yet, an ``INSERT`` that the primary key lets only one
caller win. Both are atomic on PostgreSQL (the second updater re-checks the condition after the
first commits) and on SQLite (one writer at a time).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select, update

from user_store.db import as_utc
from user_store.errors import Invalid, NotFound
from user_store.tables import (
    IdentityLinkRow,
    ReconcilerLeaseRow,
    ReconcilerRunRow,
    ReconcilerStateRow,
    UserRow,
)

RUN_STATUSES = ("running", "held", "completed", "failed", "rejected")


async def acquire_lease(
    session: AsyncSession, tenant_id: str, holder: str, ttl: timedelta
) -> tuple[bool, str, datetime]:
    """Take or renew the tenant's lease; returns (acquired, current holder, its expiry)."""
    now = utcnow()
    expires = now + ttl
    result = await session.execute(
        update(ReconcilerLeaseRow)
        .where(
            col(ReconcilerLeaseRow.tenant_id) == tenant_id,
            sa.or_(
                col(ReconcilerLeaseRow.holder) == holder,
                col(ReconcilerLeaseRow.expires_at) < now,
            ),
        )
        .values(holder=holder, expires_at=expires)
    )
    if int(getattr(result, "rowcount", 0) or 0) == 1:
        return True, holder, expires
    try:
        async with session.begin_nested():
            session.add(ReconcilerLeaseRow(tenant_id=tenant_id, holder=holder, expires_at=expires))
        return True, holder, expires
    except IntegrityError:
        pass
    row = await session.get(ReconcilerLeaseRow, tenant_id, populate_existing=True)
    if row is None:  # released between our two statements: the caller may simply retry
        return False, "", now
    return False, row.holder, as_utc(row.expires_at)


async def release_lease(session: AsyncSession, tenant_id: str, holder: str) -> bool:
    """Give the lease back (only its holder can)."""
    result = await session.execute(
        delete(ReconcilerLeaseRow).where(
            col(ReconcilerLeaseRow.tenant_id) == tenant_id,
            col(ReconcilerLeaseRow.holder) == holder,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def save_run(session: AsyncSession, tenant_id: str, record: dict[str, Any]) -> None:
    """Insert or replace a run record (``id``, ``status`` and ``started_at`` inside it)."""
    run_id = record.get("id")
    status = record.get("status")
    if not isinstance(run_id, str) or not 1 <= len(run_id) <= 64:
        raise Invalid("a run record needs an id")
    if status not in RUN_STATUSES:
        raise Invalid(f"status must be one of {', '.join(RUN_STATUSES)}")
    try:
        started = as_utc(datetime.fromisoformat(str(record.get("started_at"))))
    except ValueError as exc:
        raise Invalid("started_at must be an ISO 8601 time") from exc
    row = await session.get(ReconcilerRunRow, run_id)
    if row is None:
        session.add(
            ReconcilerRunRow(
                id=run_id, tenant_id=tenant_id, status=status, started_at=started, record=record
            )
        )
    elif row.tenant_id != tenant_id:
        raise NotFound(f"no run {run_id}")
    else:
        row.status = status
        row.record = record
    await session.flush()


async def list_runs(
    session: AsyncSession, tenant_id: str, *, limit: int = 20, status: str | None = None
) -> list[dict[str, Any]]:
    """The tenant's latest runs, newest first."""
    statement = select(ReconcilerRunRow).where(col(ReconcilerRunRow.tenant_id) == tenant_id)
    if status is not None:
        statement = statement.where(col(ReconcilerRunRow.status) == status)
    statement = statement.order_by(col(ReconcilerRunRow.started_at).desc()).limit(limit)
    return [row.record for row in (await session.execute(statement)).scalars().all()]


async def get_run(session: AsyncSession, tenant_id: str, run_id: str) -> dict[str, Any]:
    """One run record of the tenant."""
    row = await session.get(ReconcilerRunRow, run_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no run {run_id}")
    return row.record


async def get_state(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """The reconciler's state document of the tenant (empty at first)."""
    row = await session.get(ReconcilerStateRow, tenant_id)
    return dict(row.state) if row is not None else {}


async def put_state(session: AsyncSession, tenant_id: str, state: dict[str, Any]) -> None:
    """Replace the state document."""
    row = await session.get(ReconcilerStateRow, tenant_id)
    if row is None:
        session.add(ReconcilerStateRow(tenant_id=tenant_id, state=state, updated_at=utcnow()))
    else:
        row.state = state
        row.updated_at = utcnow()
    await session.flush()


async def scan_users(
    session: AsyncSession, tenant_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """A page of the tenant's live users in (created_at, id) order with only what the
    reconciler decides on: no count, no groups, one query for the page's login subjects."""
    columns = (
        col(UserRow.id),
        col(UserRow.user_name),
        col(UserRow.external_id),
        col(UserRow.active),
        col(UserRow.origin),
        col(UserRow.scim_managed),
        col(UserRow.created_at),
        col(UserRow.last_login_at),
        col(UserRow.deactivated_reason),
        col(UserRow.emails),
    )
    # Plain rows, not ORM objects, and a row-value keyset that the (tenant_id, created_at, id)
    # index answers directly: a scan of 100,000 users is what this is for.
    statement = sa.select(*columns).where(
        col(UserRow.tenant_id) == tenant_id, col(UserRow.deleted_at).is_(None)
    )
    if after is not None:
        statement = statement.where(
            sa.tuple_(col(UserRow.created_at), col(UserRow.id)) > sa.tuple_(*after)
        )
    statement = statement.order_by(col(UserRow.created_at), col(UserRow.id)).limit(limit)
    rows = (await session.execute(statement)).all()
    subjects: dict[str, list[str]] = {}
    if rows:
        # The page's login subjects by the same keyset window (no list of ids to bind).
        window = [
            col(UserRow.tenant_id) == tenant_id,
            sa.tuple_(col(UserRow.created_at), col(UserRow.id))
            <= sa.tuple_(rows[-1][6], rows[-1][0]),
        ]
        if after is not None:
            window.append(sa.tuple_(col(UserRow.created_at), col(UserRow.id)) > sa.tuple_(*after))
        links = await session.execute(
            sa.select(col(IdentityLinkRow.user_id), col(IdentityLinkRow.subject))
            .join(UserRow, col(UserRow.id) == col(IdentityLinkRow.user_id))
            .where(*window)
        )
        for user_id, subject in links.all():
            subjects.setdefault(user_id, []).append(subject)
    items = [
        {
            "id": r[0],
            "user_name": r[1],
            "external_id": r[2],
            "active": r[3],
            "origin": r[4],
            "scim_managed": r[5],
            "created_at": as_utc(r[6]).isoformat(),
            "last_login_at": as_utc(r[7]).isoformat() if r[7] else None,
            "deactivated_reason": r[8],
            "emails": [e.get("value") for e in r[9] or () if isinstance(e, dict)],
            "subjects": subjects.get(r[0], []),
        }
        for r in rows
    ]
    following = (as_utc(rows[-1][6]), rows[-1][0]) if len(rows) == limit else None
    return items, following
