"""Typed application keys of the console's aiohttp apps (the shared ones re-exported)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.service.keys import METRICS, READY, STATE, State

from console.backend import Backend
from console.seal import Sealer
from console.settings import ConsoleSettings

__all__ = [
    "BACKEND",
    "CSRF",
    "METRICS",
    "OPERATOR",
    "READY",
    "SEALER",
    "SESSION",
    "SETTINGS",
    "STATE",
    "State",
]

BACKEND = web.AppKey("backend", Backend)
SEALER = web.AppKey("sealer", Sealer)
SETTINGS = web.AppKey("settings", ConsoleSettings)
CSRF = web.RequestKey("csrf", str)
"""The form token of this browser, for the page being rendered."""
OPERATOR = web.RequestKey("operator", str)
"""Who is signed in to the console (operator pages only)."""
SESSION = web.RequestKey("session", tuple[str, int])
"""The signed-in session's id hash and expiry (epoch seconds), for sign-out."""
