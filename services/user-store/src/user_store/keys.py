"""Typed application keys of the user-store's aiohttp app."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from user_store.cursors import Cursors
from user_store.loop_reads import LoopReads

SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
READ_SESSIONS = web.AppKey("read_sessions", async_sessionmaker[AsyncSession])
"""Autocommit sessions for the internal API's reads (``db.read_session_factory``)."""
READ_ENGINE = web.AppKey("read_engine", AsyncEngine)
"""The same autocommit engine without a session, for a read that is one raw statement
(``db.read_engine``): an ``AsyncSession`` around it costs more CPU than the statement."""
STATEMENT_ENGINE = web.AppKey("statement_engine", AsyncEngine)
"""The engine in autocommit, for a write that is one raw statement and atomic on its own
(``replay.claim_statement``); never for a write of several statements."""
ADMIN_TOKEN = web.AppKey("admin_token", str)
INTERNAL_TOKEN: web.AppKey[str | None] = web.AppKey("internal_token")
CURSORS = web.AppKey("cursors", Cursors)
LOOP_READS: web.AppKey[LoopReads | None] = web.AppKey("loop_reads")
"""SQLite file: the hot reads' connection on the loop's thread (:mod:`user_store.loop_reads`)."""
