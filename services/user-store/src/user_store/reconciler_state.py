"""What the reconciler keeps between runs, stored here because the reconciler never writes the
database: a lease per tenant (exactly one instance runs a tenant at a time), the run records an
admin reads, and a small state document per tenant (consecutive-miss counters, the directory's
delta link). Also the tenant's ``reconciler`` and ``directory`` settings sections.

The lease is a row per tenant taken with a conditional ``UPDATE`` (``holder`` is the caller, or
the lease expired) or, when there is no row yet, an ``INSERT`` that the primary key lets only one
caller win. Both are atomic on PostgreSQL (the second updater re-checks the condition after the
first commits) and on SQLite (one writer at a time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from roster_shared import bounded_json
from roster_shared.events.envelope import utcnow
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select, update

from user_store import tenants
from user_store.errors import Invalid, NotFound
from user_store.keys import SESSIONS
from user_store.tables import (
    IdentityLinkRow,
    ReconcilerLeaseRow,
    ReconcilerRunRow,
    ReconcilerStateRow,
    UserRow,
)

SECTIONS = ("reconciler", "directory")
"""Tenant settings sections the reconciler may set through the internal API."""

RUN_STATUSES = ("running", "held", "completed", "failed", "rejected")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    return False, row.holder, _aware(row.expires_at)


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
        started = _aware(datetime.fromisoformat(str(record.get("started_at"))))
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
            "created_at": _aware(r[6]).isoformat(),
            "last_login_at": _aware(r[7]).isoformat() if r[7] else None,
            "deactivated_reason": r[8],
            "emails": [e.get("value") for e in r[9] or () if isinstance(e, dict)],
            "subjects": subjects.get(r[0], []),
        }
        for r in rows
    ]
    following = (_aware(rows[-1][6]), rows[-1][0]) if len(rows) == limit else None
    return items, following


# -- internal API --------------------------------------------------------------------------

routes = web.RouteTableDef()
PREFIX = "/internal/tenants/{ref}/reconciler"


MAX_RECORD = 64 * 1_048_576
"""A run record lists every decision: 10,000 deactivations take a few megabytes, more than the
application's general 1 MiB limit, so these routes read the body under a limit of their own."""


async def _json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_RECORD:
        raise Invalid("request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_RECORD:
            raise Invalid("request body too large")
        chunks.append(chunk)
    try:
        return bounded_json.loads(b"".join(chunks))
    except bounded_json.TooDeep as exc:
        raise Invalid(f"the body is refused: {exc}") from exc
    except ValueError as exc:
        raise Invalid("the body is not valid JSON") from exc


async def _tenant_id(session: AsyncSession, request: web.Request) -> str:
    return (await tenants.find_tenant_row(session, request.match_info["ref"])).id


@routes.get("/internal/reconciler/tenants")
async def tenant_list(request: web.Request) -> web.Response:
    """Every tenant, for the reconciler's schedule."""
    async with request.app[SESSIONS]() as session:
        found = await tenants.list_tenants(session)
    return web.json_response({"tenants": [t.model_dump(mode="json") for t in found]})


@routes.get(PREFIX + "/users")
async def users_scan(request: web.Request) -> web.Response:
    """Every live user, lean, for a run: ``?limit=5000&after=<cursor>``; the answer's ``next``
    is the cursor of the following page (absent on the last)."""
    try:
        limit = min(max(int(request.query.get("limit", "5000")), 1), 10_000)
        after = None
        if "after" in request.query:
            created, _, last_id = request.query["after"].partition("|")
            after = (_aware(datetime.fromisoformat(created)), last_id)
    except ValueError as exc:
        raise Invalid("limit must be a number and after a cursor from a previous page") from exc
    async with request.app[SESSIONS]() as session:
        items, following = await scan_users(
            session, await _tenant_id(session, request), after=after, limit=limit
        )
    body: dict[str, Any] = {"users": items}
    if following is not None:
        body["next"] = f"{following[0].isoformat()}|{following[1]}"
    return web.json_response(body)


@routes.post(PREFIX + "/lease")
async def lease_acquire(request: web.Request) -> web.Response:
    """``{"holder", "ttl_seconds"}`` → ``{"acquired", "holder", "expires_at"}``."""
    data = await _json(request)
    holder = data.get("holder") if isinstance(data, dict) else None
    ttl = data.get("ttl_seconds") if isinstance(data, dict) else None
    if not isinstance(holder, str) or not 1 <= len(holder) <= 128:
        raise Invalid("holder must be a string of 1 to 128 characters")
    if not isinstance(ttl, int | float) or not 1 <= ttl <= 3600:
        raise Invalid("ttl_seconds must be between 1 and 3600")
    async with request.app[SESSIONS]() as session, session.begin():
        acquired, current, expires = await acquire_lease(
            session, await _tenant_id(session, request), holder, timedelta(seconds=ttl)
        )
    return web.json_response(
        {"acquired": acquired, "holder": current, "expires_at": expires.isoformat()}
    )


@routes.delete(PREFIX + "/lease/{holder}")
async def lease_release(request: web.Request) -> web.Response:
    """Release the lease if the caller holds it."""
    async with request.app[SESSIONS]() as session, session.begin():
        released = await release_lease(
            session, await _tenant_id(session, request), request.match_info["holder"]
        )
    return web.json_response({"released": released})


@routes.put(PREFIX + "/runs/{run_id}")
async def run_put(request: web.Request) -> web.Response:
    """Store a run record (the body is the record)."""
    record = await _json(request)
    if not isinstance(record, dict) or record.get("id") != request.match_info["run_id"]:
        raise Invalid("the body must be the run record with the same id")
    async with request.app[SESSIONS]() as session, session.begin():
        await save_run(session, await _tenant_id(session, request), record)
    return web.json_response(record)


@routes.get(PREFIX + "/runs")
async def run_list(request: web.Request) -> web.Response:
    """The latest runs (``?limit=20&status=held``)."""
    try:
        limit = min(max(int(request.query.get("limit", "20")), 1), 500)
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    async with request.app[SESSIONS]() as session:
        runs = await list_runs(
            session,
            await _tenant_id(session, request),
            limit=limit,
            status=request.query.get("status"),
        )
    return web.json_response({"runs": runs})


@routes.get(PREFIX + "/runs/{run_id}")
async def run_get(request: web.Request) -> web.Response:
    """One run record."""
    async with request.app[SESSIONS]() as session:
        record = await get_run(
            session, await _tenant_id(session, request), request.match_info["run_id"]
        )
    return web.json_response(record)


@routes.get(PREFIX + "/state")
async def state_get(request: web.Request) -> web.Response:
    """The state document."""
    async with request.app[SESSIONS]() as session:
        return web.json_response(await get_state(session, await _tenant_id(session, request)))


@routes.put(PREFIX + "/state")
async def state_put(request: web.Request) -> web.Response:
    """Replace the state document."""
    state = await _json(request)
    if not isinstance(state, dict):
        raise Invalid("the state must be a JSON object")
    async with request.app[SESSIONS]() as session, session.begin():
        await put_state(session, await _tenant_id(session, request), state)
    return web.json_response(state)


@routes.put(PREFIX + "/settings/{section}")
async def settings_put(request: web.Request) -> web.Response:
    """Set the tenant's ``reconciler`` or ``directory`` settings section (the body)."""
    section = request.match_info["section"]
    if section not in SECTIONS:
        raise Invalid(f"section must be one of {', '.join(SECTIONS)}")
    value = await _json(request)
    if not isinstance(value, dict):
        raise Invalid("the section must be a JSON object")
    async with request.app[SESSIONS]() as session, session.begin():
        tenant = await tenants.update_tenant(
            session, request.match_info["ref"], settings={section: value}
        )
    return web.Response(text=tenant.model_dump_json(), content_type="application/json")
