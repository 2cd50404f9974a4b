"""Signed-out console sessions, so that sign-out ends a session on every console process.

The console's session is a sealed cookie (no server state), which alone cannot be taken back: a
copied cookie would stay valid until it expires (8 h). The console writes no database, and its
processes share nothing but the user-store, so the user-store keeps what they must agree on: the
ids of the sessions signed out before their expiry. A revocation list rather than a list of live
sessions because it stays tiny (only sign-outs, each kept just until its session would have
expired anyway) and a sign-in needs no write. The console checks it on every operator request
(one indexed look-up; operator traffic is light) and refuses when it cannot ask (fail closed).

Ids are the SHA-256 of the session's random id, never the cookie, so this table grants nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from aiohttp import web
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.bodies import json_object
from user_store.errors import Invalid
from user_store.keys import SESSIONS
from user_store.tables import metadata

MAX_LIFETIME_S = 7 * 24 * 3600

console_signouts = sa.Table(
    "console_signouts",
    metadata,
    sa.Column("session_hash", sa.String(64), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)


def _session_hash(body: dict[str, object]) -> str:
    value = body.get("session_hash")
    if (
        not isinstance(value, str)
        or len(value) != 64
        or not all(c in "0123456789abcdef" for c in value)
    ):
        raise Invalid("session_hash must be 64 lowercase hex digits (a SHA-256)")
    return value


async def revoke(session: AsyncSession, session_hash: str, expires_at: datetime) -> None:
    """Record a sign-out until ``expires_at``; forget sign-outs whose sessions expired."""
    now = utcnow()
    await session.execute(sa.delete(console_signouts).where(console_signouts.c.expires_at < now))
    await session.execute(
        sa.delete(console_signouts).where(console_signouts.c.session_hash == session_hash)
    )
    await session.execute(
        sa.insert(console_signouts).values(session_hash=session_hash, expires_at=expires_at)
    )


async def is_revoked(session: AsyncSession, session_hash: str) -> bool:
    """True when the session was signed out."""
    row = await session.execute(
        sa.select(console_signouts.c.session_hash).where(
            console_signouts.c.session_hash == session_hash
        )
    )
    return row.first() is not None


routes = web.RouteTableDef()


@routes.post("/admin/console-sessions/signed-out")
async def signed_out(request: web.Request) -> web.Response:
    """``{"session_hash", "expires_at": <epoch seconds>}``: the session is signed out."""
    body = json_object(await request.read())
    session_hash = _session_hash(body)
    until = body.get("expires_at")
    now = utcnow().timestamp()
    if (
        not isinstance(until, int | float)
        or isinstance(until, bool)
        or until > now + MAX_LIFETIME_S
    ):
        raise Invalid("expires_at must be the session's expiry in epoch seconds (within 7 days)")
    async with request.app[SESSIONS]() as session, session.begin():
        await revoke(session, session_hash, datetime.fromtimestamp(until, UTC))
    return web.json_response({"signed_out": True}, status=201)


@routes.post("/admin/console-sessions/check")
async def check(request: web.Request) -> web.Response:
    """``{"session_hash"}`` → ``{"signed_out": bool}``. POST: ids stay out of access logs."""
    session_hash = _session_hash(json_object(await request.read()))
    async with request.app[SESSIONS]() as session:
        return web.json_response({"signed_out": await is_revoked(session, session_hash)})
