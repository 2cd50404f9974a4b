"""Typed application keys of the webhooks service's aiohttp app (the shared ones re-exported)."""

from __future__ import annotations

from aiohttp import web
from roster_shared.service.keys import BUS, METRICS, STATE, State

from webhooks.dispatcher import Dispatcher
from webhooks.housekeeping import Housekeeper
from webhooks.ssrf import Guard
from webhooks.store import WebhookStore
from webhooks.vault import Vault

__all__ = [
    "ADMIN_TOKEN",
    "BUS",
    "DISPATCHER",
    "GUARD",
    "HOUSEKEEPER",
    "METRICS",
    "SECRET_OVERLAP",
    "STATE",
    "STORE",
    "VAULT",
    "State",
]

STORE = web.AppKey("webhook_store", WebhookStore)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
HOUSEKEEPER = web.AppKey("housekeeper", Housekeeper)
GUARD = web.AppKey("guard", Guard)
VAULT = web.AppKey("vault", Vault)
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("admin_token")
SECRET_OVERLAP: web.AppKey[float] = web.AppKey("secret_overlap")
