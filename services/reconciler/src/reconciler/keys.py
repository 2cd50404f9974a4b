"""Typed application keys of the reconciler's aiohttp app (the shared ones re-exported)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.service.keys import BUS, METRICS, STATE, USER_STORE, State

from reconciler.credentials import Vault
from reconciler.runs import Reconciler

__all__ = [
    "ADMIN_TOKEN",
    "BUS",
    "METRICS",
    "RECONCILER",
    "STATE",
    "USER_STORE",
    "VAULT",
    "State",
]

RECONCILER = web.AppKey("reconciler", Reconciler)
VAULT = web.AppKey("vault", Vault)
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("admin_token")
