"""Typed application keys for what several services keep in their aiohttp application.

One key object per thing, defined here once; a service's own ``keys.py`` re-exports the ones it
uses beside its own. Each service's application is separate (``roster dev`` mounts them as
sub-applications), so sharing a key never shares a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from roster_shared.bus.base import Bus
from roster_shared.bus.requests import Requester
from roster_shared.observability import Check
from roster_shared.userstore_client import UserStoreClient


@dataclass
class State:
    """What readiness reports: True once the application's resources are started."""

    running: bool = False


BUS = web.AppKey("bus", Bus)
USER_STORE = web.AppKey("user_store", UserStoreClient)
REQUESTER = web.AppKey("requester", Requester)
METRICS = web.AppKey("metrics", CollectorRegistry)
STATE = web.AppKey("state", State)
READY: web.AppKey[Check] = web.AppKey("ready")
"""The application's readiness check: ``/readyz`` standalone, and what a composer asks each
mounted application."""
