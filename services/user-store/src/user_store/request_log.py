"""The provisioning request log and its health figures (``roster_shared.request_log``).

scim-api and sso-login send batches of :class:`RequestRecord` to ``POST /internal/request-log``;
the console reads the last requests and the health of a tenant. Three small tables, all bounded:

- ``request_log``: the last :data:`KEEP_PER_TENANT` records of each tenant, none older than
  :data:`KEEP_FOR` — what "the last requests, with status and error" shows; a record is one
  failure or a run of identical successes (``count``, from ``since`` to ``at``);
- ``request_counts``: totals and failures per tenant, source and five-minute bucket, kept for
  :data:`KEEP_FOR` — the rates and failure shares of the last hour and day, right however many
  requests the per-tenant cap of the log dropped;
- ``scim_token_usage``: when each SCIM token was last used (one row per token).

Each batch is one transaction: insert, count, prune. Records of unknown tenants (a SCIM request
to a slug that does not exist) name no one and are dropped.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import ValidationError
from roster_shared.events.envelope import utcnow
from roster_shared.request_log import RequestBatch
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from user_store.bodies import first_error, json_object
from user_store.db import as_utc
from user_store.errors import Invalid
from user_store.keys import SESSIONS
from user_store.tables import TenantRow, UserRow, metadata
from user_store.tenants import find_tenant_row

KEEP_PER_TENANT = 500
KEEP_FOR = timedelta(days=2)
BUCKET = timedelta(minutes=5)

request_log = sa.Table(
    "request_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("route", sa.String(128), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(300), nullable=True),
    sa.Column("reference", sa.String(32), nullable=True),
    sa.Column("token_id", sa.String(32), nullable=True),
    # A run of identical successes is one row (roster_shared.request_log; migration 0012).
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("since", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_request_log_tenant_id", "tenant_id", "id"),
)

request_counts = sa.Table(
    "request_counts",
    metadata,
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("source", sa.String(8), primary_key=True),
    sa.Column("bucket", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
)

scim_token_usage = sa.Table(
    "scim_token_usage",
    metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
)


def bucket_of(moment: datetime) -> datetime:
    """The start of the five-minute bucket ``moment`` falls in."""
    moment = as_utc(moment)
    return moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)


async def _tenant_ids(session: AsyncSession, refs: set[str]) -> dict[str, str]:
    rows = await session.execute(
        sa.select(TenantRow.id, TenantRow.slug).where(  # type: ignore[call-overload]
            sa.or_(sa.column("id").in_(refs), sa.column("slug").in_(refs))
        )
    )
    found: dict[str, str] = {}
    for tenant_id, slug in rows:
        found[tenant_id] = tenant_id
        found[slug] = tenant_id
    return found


async def store_batch(session: AsyncSession, batch: RequestBatch) -> int:
    """Insert a batch, add it to the counts, remember token use, prune; the records kept."""
    tenants = await _tenant_ids(session, {r.tenant for r in batch.records})
    records = [(tenants[r.tenant], r) for r in batch.records if r.tenant in tenants]
    if not records:
        return 0
    await session.execute(
        request_log.insert(),
        [
            {
                "tenant_id": tenant_id,
                "source": r.source,
                "at": r.at,
                "method": r.method,
                "route": r.route,
                "status": r.status,
                "reason": r.reason,
                "reference": r.reference,
                "token_id": r.token_id,
                "count": r.count,
                "since": r.since,
            }
            for tenant_id, r in records
        ],
    )
    totals: Counter[tuple[str, str, datetime]] = Counter()
    failures: Counter[tuple[str, str, datetime]] = Counter()
    successes: dict[tuple[str, str, datetime], datetime] = {}
    key: tuple[str, str, datetime]
    used: dict[str, tuple[str, datetime]] = {}
    for tenant_id, r in records:
        key = (tenant_id, r.source, bucket_of(r.at))
        totals[key] += r.count
        if r.failed:
            failures[key] += r.count
        else:
            successes[key] = max(successes.get(key, r.at), r.at)
        if r.token_id and r.status != 401:
            used[r.token_id] = (tenant_id, max(used.get(r.token_id, (tenant_id, r.at))[1], r.at))
    for key, total in totals.items():
        await _add_counts(session, key, total, failures[key], successes.get(key))
    for token_id, (tenant_id, at) in used.items():
        await _touch_token(session, token_id, tenant_id, at)
    await _prune(session, {tenant_id for tenant_id, _ in records})
    return len(records)


async def _add_counts(
    session: AsyncSession,
    key: tuple[str, str, datetime],
    total: int,
    failed: int,
    success: datetime | None,
) -> None:
    tenant_id, source, bucket = key
    where = sa.and_(
        request_counts.c.tenant_id == tenant_id,
        request_counts.c.source == source,
        request_counts.c.bucket == bucket,
    )
    values: dict[str, Any] = {
        "total": request_counts.c.total + total,
        "failed": request_counts.c.failed + failed,
    }
    if success is not None:
        values["last_success_at"] = success
    updated = await session.execute(request_counts.update().where(where).values(**values))
    if updated.rowcount:  # type: ignore[attr-defined]
        return
    try:
        async with session.begin_nested():
            await session.execute(
                request_counts.insert().values(
                    tenant_id=tenant_id,
                    source=source,
                    bucket=bucket,
                    total=total,
                    failed=failed,
                    last_success_at=success,
                )
            )
    except sqlalchemy_exc.IntegrityError:
        # Another user-store instance made the bucket in between: add to it instead.
        await session.execute(request_counts.update().where(where).values(**values))


async def _touch_token(session: AsyncSession, token_id: str, tenant_id: str, at: datetime) -> None:
    where = scim_token_usage.c.token_id == token_id
    updated = await session.execute(
        scim_token_usage.update()
        .where(where, scim_token_usage.c.last_used_at < at)
        .values(last_used_at=at)
    )
    if updated.rowcount:  # type: ignore[attr-defined]
        return
    exists = (await session.execute(sa.select(scim_token_usage.c.token_id).where(where))).first()
    if exists is None:
        try:
            async with session.begin_nested():
                await session.execute(
                    scim_token_usage.insert().values(
                        token_id=token_id, tenant_id=tenant_id, last_used_at=at
                    )
                )
        except sqlalchemy_exc.IntegrityError:
            pass  # recorded by another instance at about the same moment


async def _prune(session: AsyncSession, tenant_ids: set[str]) -> None:
    cutoff = utcnow() - KEEP_FOR
    await session.execute(request_log.delete().where(request_log.c.at < cutoff))
    await session.execute(request_counts.delete().where(request_counts.c.bucket < cutoff))
    for tenant_id in tenant_ids:
        oldest_kept = (
            sa.select(request_log.c.id)
            .where(request_log.c.tenant_id == tenant_id)
            .order_by(request_log.c.id.desc())
            .offset(KEEP_PER_TENANT - 1)
            .limit(1)
            .scalar_subquery()
        )
        await session.execute(
            request_log.delete().where(
                request_log.c.tenant_id == tenant_id, request_log.c.id < oldest_kept
            )
        )


async def recent(
    session: AsyncSession, tenant_id: str, *, source: str | None, limit: int
) -> list[dict[str, Any]]:
    """The tenant's last requests, newest first."""
    query = sa.select(request_log).where(request_log.c.tenant_id == tenant_id)
    if source:
        query = query.where(request_log.c.source == source)
    rows = await session.execute(query.order_by(request_log.c.id.desc()).limit(limit))
    return [
        {
            "source": row.source,
            "at": as_utc(row.at).isoformat(),
            "method": row.method,
            "route": row.route,
            "status": row.status,
            "reason": row.reason,
            "reference": row.reference,
            "token_id": row.token_id,
            "count": row.count,
            "since": as_utc(row.since).isoformat() if row.since is not None else None,
        }
        for row in rows
    ]


async def health(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """Per source: requests and failures over the last hour and day, the last success; the
    JIT-only users SCIM never confirmed; when each SCIM token was last used."""
    now = utcnow()
    rows = (
        await session.execute(
            sa.select(request_counts).where(
                request_counts.c.tenant_id == tenant_id,
                request_counts.c.bucket >= bucket_of(now - timedelta(days=1)),
            )
        )
    ).all()
    sources: dict[str, dict[str, Any]] = {}
    for source in ("scim", "sso"):
        mine = [r for r in rows if r.source == source]
        hour = [r for r in mine if as_utc(r.bucket) >= bucket_of(now - timedelta(hours=1))]
        last = [as_utc(r.last_success_at) for r in mine if r.last_success_at is not None]
        sources[source] = {
            "hour": {"total": sum(r.total for r in hour), "failed": sum(r.failed for r in hour)},
            "day": {"total": sum(r.total for r in mine), "failed": sum(r.failed for r in mine)},
            "last_success_at": max(last).isoformat() if last else None,
        }
    ever = (
        await session.execute(
            sa.select(sa.func.count())
            .select_from(request_log)
            .where(request_log.c.tenant_id == tenant_id, request_log.c.source == "scim")
        )
    ).scalar_one()
    unconfirmed = (
        (
            await session.execute(
                sa.select(UserRow)
                .where(
                    col(UserRow.tenant_id) == tenant_id,
                    col(UserRow.origin) == "jit",
                    col(UserRow.scim_managed).is_(False),
                    col(UserRow.deleted_at).is_(None),
                )
                .order_by(col(UserRow.created_at))
                .limit(50)
            )
        )
        .scalars()
        .all()
    )
    usage = await session.execute(
        sa.select(scim_token_usage).where(scim_token_usage.c.tenant_id == tenant_id)
    )
    return {
        **sources,
        "scim_seen": ever > 0 or sources["scim"]["day"]["total"] > 0,
        "jit_unconfirmed": [
            {
                "id": u.id,
                "user_name": u.user_name,
                "created_at": as_utc(u.created_at).isoformat(),
                "active": u.active,
            }
            for u in unconfirmed
        ],
        "token_last_used": {r.token_id: as_utc(r.last_used_at).isoformat() for r in usage},
    }


# -- HTTP: the internal API ------------------------------------------------------------------

routes = web.RouteTableDef()
MAX_BODY = 2 * 1_048_576


@routes.post("/internal/request-log")
async def log_batch(request: web.Request) -> web.Response:
    """A batch of records from scim-api or sso-login: ``{"records": [...]}``."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Invalid("request body too large")
    try:
        batch = RequestBatch.model_validate(json_object(await request.read()))
    except ValidationError as exc:
        raise Invalid(f"invalid batch: {first_error(exc)}") from exc
    async with request.app[SESSIONS]() as session, session.begin():
        kept = await store_batch(session, batch)
    return web.json_response({"kept": kept}, status=202)


@routes.get("/internal/tenants/{ref}/request-log")
async def log_recent(request: web.Request) -> web.Response:
    """The tenant's last requests (``?source=scim&limit=20``)."""
    source = request.query.get("source")
    if source not in (None, "scim", "sso"):
        raise Invalid("source must be scim or sso")
    try:
        limit = max(1, min(int(request.query.get("limit", "20")), 200))
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    async with request.app[SESSIONS]() as session:
        tenant = await find_tenant_row(session, request.match_info["ref"])
        entries = await recent(session, tenant.id, source=source, limit=limit)
    return web.json_response({"entries": entries})


@routes.get("/internal/tenants/{ref}/request-log/health")
async def log_health(request: web.Request) -> web.Response:
    """The tenant's provisioning health (see :func:`health`)."""
    async with request.app[SESSIONS]() as session:
        tenant = await find_tenant_row(session, request.match_info["ref"])
        return web.json_response(await health(session, tenant.id))
