"""The skeleton every Roster service is built on.

- :mod:`~roster_shared.service.settings` — ``ServiceSettings`` (listen address, internal
  credential) and ``UserStoreClientSettings`` (how to reach the user-store);
- :mod:`~roster_shared.service.keys` — the typed application keys several services share;
- :mod:`~roster_shared.service.resources` — one cleanup context per shared resource (bus,
  user-store client, requester, readiness) and the ``attach_*`` functions that register them;
- :mod:`~roster_shared.service.errors` — the error-middleware factory;
- :mod:`~roster_shared.service.root` — the standalone root (health, metrics, the mounted app);
- :mod:`~roster_shared.service.run` — ``run_service``, every ``__main__``.
"""

from roster_shared.service.errors import Catch, error_middleware
from roster_shared.service.keys import BUS, METRICS, REQUESTER, STATE, USER_STORE, State
from roster_shared.service.resources import (
    CleanupContext,
    attach_bus,
    attach_requester,
    attach_state,
    attach_user_store,
    bus_context,
    requester_context,
    running_context,
    user_store_context,
)
from roster_shared.service.root import mount_with_health, ready_when_running, standalone_root
from roster_shared.service.run import run_service
from roster_shared.service.settings import ServiceSettings, UserStoreClientSettings

__all__ = [
    "BUS",
    "METRICS",
    "REQUESTER",
    "STATE",
    "USER_STORE",
    "Catch",
    "CleanupContext",
    "ServiceSettings",
    "State",
    "UserStoreClientSettings",
    "attach_bus",
    "attach_requester",
    "attach_state",
    "attach_user_store",
    "bus_context",
    "error_middleware",
    "mount_with_health",
    "ready_when_running",
    "requester_context",
    "run_service",
    "running_context",
    "standalone_root",
    "user_store_context",
]
