"""Typed application keys of the user-store's aiohttp app."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_store.cursors import Cursors

SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
READ_SESSIONS = web.AppKey("read_sessions", async_sessionmaker[AsyncSession])
"""Autocommit sessions for the internal API's reads (``db.read_session_factory``)."""
ADMIN_TOKEN = web.AppKey("admin_token", str)
INTERNAL_TOKEN: web.AppKey[str | None] = web.AppKey("internal_token")
CURSORS = web.AppKey("cursors", Cursors)
HOT_READS = web.AppKey("hot_reads", bool)
"""Whether the scim-api's hottest reads take :mod:`user_store.hot_reads` (one statement each)."""
