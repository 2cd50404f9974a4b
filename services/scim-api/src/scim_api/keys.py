"""Typed application keys of the scim-api's aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from roster_shared.bus.requests import Requester
from roster_shared.userstore_client import UserStoreClient

from scim_api.service import ScimService


@dataclass
class State:
    """What readiness reports: True once the application's resources are started."""

    running: bool = False


USER_STORE = web.AppKey("user_store", UserStoreClient)
REQUESTER = web.AppKey("requester", Requester)
METRICS = web.AppKey("metrics", CollectorRegistry)
STATE = web.AppKey("state", State)
SERVICE = web.AppKey("service", ScimService)
PUBLIC_BASE = web.AppKey("public_base", str)
"""``<public_url>/scim``: absolute URLs are built on it, never on the request's Host."""
