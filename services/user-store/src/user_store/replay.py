"""Single-use claims for sso-login: SAML assertion ids, AuthnRequest ids and OIDC states.

A login protocol message must be accepted once, by whichever sso-login instance sees it first.
sso-login never writes the database, so it asks the user-store to *claim* a value: the first claim
of a (tenant, value) pair wins, every later one is refused, until the claim expires (a SAML
assertion's ``NotOnOrAfter``, after which the assertion is refused on its own). The unique key
makes two concurrent claims of the same value end in exactly one winner, on PostgreSQL and SQLite.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from roster_shared.events.envelope import utcnow
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete

from user_store.bodies import json_object
from user_store.errors import Invalid, Uniqueness
from user_store.keys import SESSIONS
from user_store.tables import ReplayClaimRow
from user_store.tenants import find_tenant_row

MAX_LIFETIME = timedelta(days=2)
"""Longest a claim is kept: protocol messages live minutes; this bounds a hostile expiry."""


async def claim(session: AsyncSession, ref: str, value: str, expires_at: datetime) -> bool:
    """Record ``value`` for the tenant; False when it is already claimed and not yet expired."""
    tenant = await find_tenant_row(session, ref)
    now = utcnow()
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    expires_at = min(expires_at, now + MAX_LIFETIME)
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
    async with request.app[SESSIONS]() as session, session.begin():
        if not await claim(session, request.match_info["ref"], value, expires_at):
            raise Uniqueness("already claimed")
        if secrets.randbelow(64) == 0:  # now and then, sweep the table
            await purge_expired(session)
    return web.json_response({"claimed": True}, status=201)
