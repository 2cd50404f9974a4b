"""The reconciler application factory.

The reconciler reads tenants and users from the user-store and publishes ``UserDeactivated``
ingestion events on the bus; it never writes the database. Its API (the advice, runs, approvals,
the directory and the policy of a tenant) and its schedule live in an aiohttp application
(:func:`create_api`, mounted at :data:`MOUNT`) so that it starts and stops exactly like the other
services, standalone (:func:`create_app`, with health and metrics) and inside ``roster dev``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from roster_shared.bus.base import Bus
from roster_shared.events.envelope import utcnow
from roster_shared.service import (
    METRICS,
    CleanupContext,
    attach_bus,
    attach_state,
    attach_user_store,
    resource_context,
    service_app,
    standalone_root,
)
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient

from reconciler.credentials import Vault
from reconciler.errors import errors_middleware
from reconciler.keys import ADMIN_TOKEN, RECONCILER, VAULT
from reconciler.records import RunRecord
from reconciler.routes import routes
from reconciler.runs import Reconciler
from reconciler.scheduler import scheduled
from reconciler.settings import ReconcilerSettings
from reconciler.store import StateStore

MOUNT = "/reconciler"
"""Where the reconciler's application is mounted."""


def create_api(
    settings: ReconcilerSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The reconciler's API and schedule, to be mounted at :data:`MOUNT`.

    A ``bus`` or ``user_store`` passed in is started and stopped by whoever passed it;
    without them the application makes its own from ``settings``.
    """
    app = service_app(errors_middleware)
    app.add_routes(routes)
    bus = attach_bus(app, settings, "reconciler", bus)
    user_store = attach_user_store(app, settings, user_store)
    store = StateStore(
        settings.user_store_url,
        token=settings.internal_token_value(),
        timeout=settings.request_timeout,
    )
    vault = Vault(settings.directory_key.get_secret_value() if settings.directory_key else None)
    reconciler = Reconciler(
        user_store,
        store,
        bus,
        vault=vault,
        topics=Topics(settings.topic_prefix),
        instance=settings.instance_id,
        clock=clock,
        on_record=_metrics(app[METRICS]),
    )
    app[RECONCILER] = reconciler
    app[VAULT] = vault
    app[ADMIN_TOKEN] = settings.admin_token.get_secret_value() if settings.admin_token else None
    # The reconciler's state (leases, runs) lives in the user-store.
    app.cleanup_ctx.append(resource_context(store.start, store.close))
    if settings.schedule:
        app.cleanup_ctx.append(_schedule_context(reconciler, settings.schedule_tick))
    attach_state(app)
    return app


def _schedule_context(reconciler: Reconciler, tick: float) -> CleanupContext:
    """Each tenant run on its policy's interval while the application runs."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        async with scheduled(reconciler, tick):
            yield

    return context


def create_app(
    settings: ReconcilerSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The reconciler on its own: health and metrics, and its API under :data:`MOUNT`."""
    return standalone_root(create_api(settings, bus=bus, user_store=user_store, clock=clock), MOUNT)


def _metrics(registry: CollectorRegistry) -> Callable[[RunRecord], None]:
    """Counters of runs and their decisions, fed by every finished run."""
    runs = Counter(
        "roster_reconciler_runs",
        "Reconciler runs by status",
        ["status", "dry_run"],
        registry=registry,
    )
    decisions = Counter(
        "roster_reconciler_decisions",
        "Users deactivated or reactivated (published), by signal",
        ["action", "signal"],
        registry=registry,
    )
    requests = Counter(
        "roster_reconciler_directory_requests", "Requests to directory APIs", registry=registry
    )
    retries = Counter(
        "roster_reconciler_directory_retries", "Retried directory requests", registry=registry
    )

    def observe(record: RunRecord) -> None:
        runs.labels(record.status, str(record.dry_run).lower()).inc()
        for action in record.actions:
            if action.outcome in ("published", "applied"):
                decisions.labels(action.action, action.signal).inc()
        if record.directory:
            requests.inc(record.directory.get("requests", 0))
            retries.inc(record.directory.get("retries", 0))

    return observe
