"""Typed application keys of the user-store's aiohttp app."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_store.cursors import Cursors

SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
ADMIN_TOKEN = web.AppKey("admin_token", str)
INTERNAL_TOKEN: web.AppKey[str | None] = web.AppKey("internal_token")
CURSORS = web.AppKey("cursors", Cursors)
