"""The skeleton every Roster service is built on.

- :mod:`~roster_shared.service.settings` — ``ServiceSettings`` (listen address, internal
  credential) and ``UserStoreClientSettings`` (how to reach the user-store);
- :mod:`~roster_shared.service.app` — ``service_app``: the application, its registry and
  middlewares;
- :mod:`~roster_shared.service.keys` — the typed application keys several services share, and
  ``Fatal`` (a failure that ends the process: ``run_service`` exits 70, ``/readyz`` fails);
- :mod:`~roster_shared.service.resources` — one cleanup context per shared resource (bus,
  user-store client, requester, readiness state), the ``attach_*`` functions that register
  them, and the readiness check;
- :mod:`~roster_shared.service.errors` — the error-middleware factory;
- :mod:`~roster_shared.service.root` — the standalone root (health, metrics, the mounted app);
- :mod:`~roster_shared.service.run` — ``run_service``, every ``__main__``.
"""

from roster_shared.service.app import service_app
from roster_shared.service.errors import Catch, error_middleware, internal_error_json
from roster_shared.service.keys import (
    BUS,
    CHECKS,
    FATAL,
    METRICS,
    READY,
    REQUESTER,
    STATE,
    USER_STORE,
    Fatal,
    State,
)
from roster_shared.service.resources import (
    CleanupContext,
    attach_bus,
    attach_requester,
    attach_state,
    attach_user_store,
    bus_context,
    checks_of,
    ready_when_running,
    requester_context,
    resource_context,
    running_context,
    user_store_context,
)
from roster_shared.service.root import mount_with_health, standalone_root
from roster_shared.service.run import run_service
from roster_shared.service.settings import ServiceSettings, UserStoreClientSettings

__all__ = [
    "BUS",
    "CHECKS",
    "FATAL",
    "METRICS",
    "READY",
    "REQUESTER",
    "STATE",
    "USER_STORE",
    "Catch",
    "CleanupContext",
    "Fatal",
    "ServiceSettings",
    "State",
    "UserStoreClientSettings",
    "attach_bus",
    "attach_requester",
    "attach_state",
    "attach_user_store",
    "bus_context",
    "checks_of",
    "error_middleware",
    "internal_error_json",
    "mount_with_health",
    "ready_when_running",
    "requester_context",
    "resource_context",
    "run_service",
    "running_context",
    "service_app",
    "standalone_root",
    "user_store_context",
]
