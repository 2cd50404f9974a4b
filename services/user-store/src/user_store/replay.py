"""Single-use claims for sso-login: SAML assertion ids, AuthnRequest ids and OIDC states.

A login protocol message must be accepted once, by whichever sso-login instance sees it first.
sso-login never writes the database, so it asks the user-store to *claim* a value: the first claim
of a (tenant, value) pair wins, every later one is refused, until the claim expires (a SAML
assertion's ``NotOnOrAfter``, after which the assertion is refused on its own). The unique key
makes two concurrent claims of the same value end in exactly one winner, on PostgreSQL and SQLite.

Every SAML login and OIDC callback makes one claim, so on PostgreSQL a claim is one statement on
a bare autocommit connection (:data:`_CLAIM`: the tenant, and the insert that takes a new or
expired value), not an ORM session's six round trips (tenant, delete, savepoint, insert, release,
commit). Profiled under login load it was the user-store's largest single cost (~14 % of its
CPU, more than applying the logins). ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` locks the
conflicting row, so two concurrent claims still have exactly one winner. SQLite keeps the session.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from roster_shared.events.envelope import utcnow
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col, delete

from user_store.bodies import json_object
from user_store.db import DRIVER_CONNECTION_LOST
from user_store.errors import Invalid, Uniqueness, UnknownTenant
from user_store.keys import SESSIONS, STATEMENT_ENGINE
from user_store.tables import ReplayClaimRow
from user_store.tenants import find_tenant_row

MAX_LIFETIME = timedelta(days=2)
"""Longest a claim is kept: protocol messages live minutes; this bounds a hostile expiry."""


def _bounded(expires_at: datetime, now: datetime) -> datetime:
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return min(expires_at, now + MAX_LIFETIME)


# $1 tenant id or slug, $2 the value, $3 its expiry, $4 now. A value already claimed is taken
# again only when its claim has expired (the message itself is expired by then); the tenant
# comes back either way, so an unknown tenant is told apart from a value already claimed.
_CLAIM = """WITH t AS (SELECT id FROM tenants WHERE id = $1 OR slug = $1 LIMIT 1),
     c AS (INSERT INTO replay_claims (tenant_id, claim, expires_at)
           SELECT t.id, $2, $3 FROM t
           ON CONFLICT ON CONSTRAINT uq_replay_claims_claim
           DO UPDATE SET expires_at = EXCLUDED.expires_at
           WHERE replay_claims.expires_at < $4
           RETURNING 1)
SELECT (SELECT id FROM t) AS tenant_id, EXISTS (SELECT 1 FROM c) AS claimed"""
_PURGE = "DELETE FROM replay_claims WHERE expires_at < $1"


async def claim_statement(
    connection: AsyncConnection, ref: str, value: str, expires_at: datetime, *, purge: bool
) -> bool:
    """:func:`claim` on PostgreSQL as one statement on an autocommit connection (atomic on its
    own); with ``purge``, every expired claim is dropped afterwards."""
    now = utcnow()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        row = await driver.fetchrow(_CLAIM, ref, value, _bounded(expires_at, now), now)
        if purge:
            await driver.execute(_PURGE, now)
    except DRIVER_CONNECTION_LOST as exc:
        # What SQLAlchemy would raise, so the answer is 503 "database not answering".
        raise sa_exc.InterfaceError(_CLAIM, None, exc) from exc
    if row["tenant_id"] is None:
        raise UnknownTenant(f"no tenant {ref!r}")
    return bool(row["claimed"])


async def claim(session: AsyncSession, ref: str, value: str, expires_at: datetime) -> bool:
    """Record ``value`` for the tenant; False when it is already claimed and not yet expired."""
    tenant = await find_tenant_row(session, ref)
    now = utcnow()
    expires_at = _bounded(expires_at, now)
    # Expired claims of this value may be taken again (the message itself is expired by then).
    await session.execute(
        delete(ReplayClaimRow).where(
            col(ReplayClaimRow.tenant_id) == tenant.id,
            col(ReplayClaimRow.claim) == value,
            col(ReplayClaimRow.expires_at) < now,
        )
    )
    try:
        async with session.begin_nested():
            session.add(ReplayClaimRow(tenant_id=tenant.id, claim=value, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


async def purge_expired(session: AsyncSession) -> int:
    """Drop every expired claim; returns how many."""
    result = await session.execute(
        delete(ReplayClaimRow).where(col(ReplayClaimRow.expires_at) < utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


routes = web.RouteTableDef()


@routes.post("/internal/tenants/{ref}/replay-claims")
async def replay_claim(request: web.Request) -> web.Response:
    """``{"claim": str, "expires_at": ISO time}``: 201 when claimed now, 409 when already."""
    data = json_object(await request.read())
    value = data.get("claim")
    expires = data.get("expires_at")
    if not isinstance(value, str) or not 1 <= len(value) <= 512:
        raise Invalid("claim must be a string of 1 to 512 characters")
    try:
        expires_at = datetime.fromisoformat(str(expires))
    except ValueError as exc:
        raise Invalid("expires_at must be an ISO 8601 time") from exc
    ref = request.match_info["ref"]
    purge = secrets.randbelow(64) == 0  # now and then, sweep the table
    engine = request.app[STATEMENT_ENGINE]
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            claimed = await claim_statement(connection, ref, value, expires_at, purge=purge)
        if not claimed:
            raise Uniqueness("already claimed")
        return web.json_response({"claimed": True}, status=201)
    async with request.app[SESSIONS]() as session, session.begin():
        if not await claim(session, ref, value, expires_at):
            raise Uniqueness("already claimed")
        if purge:
            await purge_expired(session)
    return web.json_response({"claimed": True}, status=201)
