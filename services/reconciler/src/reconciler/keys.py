"""Typed application keys of the reconciler's aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from roster_shared.bus.base import Bus
from roster_shared.userstore_client import UserStoreClient

from reconciler.credentials import Vault
from reconciler.engine import Reconciler


@dataclass
class State:
    """What readiness reports: True once the application's resources are started."""

    running: bool = False


BUS = web.AppKey("bus", Bus)
USER_STORE = web.AppKey("user_store", UserStoreClient)
METRICS = web.AppKey("metrics", CollectorRegistry)
STATE = web.AppKey("state", State)
RECONCILER = web.AppKey("reconciler", Reconciler)
VAULT = web.AppKey("vault", Vault)
ADMIN_TOKEN: web.AppKey[str | None] = web.AppKey("admin_token")
