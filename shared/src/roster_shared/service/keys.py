"""Typed application keys for what several services keep in their aiohttp application.

One key object per thing, defined here once; a service's own ``keys.py`` re-exports the ones it
uses beside its own. Each service's application is separate (``roster dev`` mounts them as
sub-applications), so sharing a key never shares a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry

from roster_shared.bus.base import Bus
from roster_shared.bus.requests import Requester
from roster_shared.observability import Check
from roster_shared.service.admission import Admission, EarlyShed
from roster_shared.userstore_client import UserStoreClient


@dataclass
class State:
    """What readiness reports: True once the application's resources are started."""

    running: bool = False


log = logging.getLogger(__name__)


@dataclass
class Fatal:
    """Whether the application met a failure it cannot recover from (a consumer loop that
    ended on its own), and who is told: ``roster serve`` stops the process and exits non-zero
    so that the orchestrator restarts it; ``/readyz`` fails from that moment."""

    reason: str | None = None
    handlers: list[Callable[[str], None]] = field(default_factory=list)

    def __call__(self, reason: str) -> None:
        """Record the first fatal failure and tell every handler (once)."""
        if self.reason is not None:
            return
        self.reason = reason
        log.critical("fatal: %s; the process must be restarted", reason)
        for handler in self.handlers:
            handler(reason)


BUS = web.AppKey("bus", Bus)
USER_STORE = web.AppKey("user_store", UserStoreClient)
REQUESTER = web.AppKey("requester", Requester)
METRICS = web.AppKey("metrics", CollectorRegistry)
STATE = web.AppKey("state", State)
FATAL = web.AppKey("fatal", Fatal)
ADMISSION = web.AppKey("admission", Admission)
"""The service's load-shedding bounds and counts (``roster_shared.service.admission``)."""
EARLY_SHED = web.AppKey("early_shed", EarlyShed)
"""Its refusals before routing, for whoever mounts it to install (``shed_before_routing``)."""
CHECKS: web.AppKey[list[Check]] = web.AppKey("readiness_checks")
"""What readiness asks besides ``STATE.running``: each resource attached adds its own (the bus
answers, the reply listener lives)."""
READY: web.AppKey[Check] = web.AppKey("ready")
"""The application's readiness check: ``/readyz`` standalone, and what a composer asks each
mounted application."""
