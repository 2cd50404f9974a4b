"""The user-store application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from roster_shared.bus.base import Bus
from roster_shared.events.envelope import utcnow
from roster_shared.observability import Check, health_routes
from roster_shared.service import FATAL, METRICS, READY, CleanupContext, attach_bus, service_app
from roster_shared.topics import Topics
from sqlalchemy.ext.asyncio import AsyncEngine

from user_store import (
    console_sessions,
    dlq_admin,
    login_dry_run,
    login_reads,
    reconciler_state,
    replay,
    request_log,
    setup_links,
    sso_settings,
    token_reads,
    user_history,
)
from user_store import webhooks as webhook_state
from user_store.cursors import Cursors, derive_key
from user_store.db import create_engine, migrate, read_engine, read_session_factory
from user_store.dlq_admin import DEAD_LETTERS, DeadLetters
from user_store.health import ConsumerCollector, Readiness
from user_store.keys import (
    ADMIN_TOKEN,
    CURSORS,
    INTERNAL_TOKEN,
    LOOP_READS,
    READ_ENGINE,
    READ_SESSIONS,
    SESSIONS,
    STATEMENT_ENGINE,
)
from user_store.loop_reads import LoopReads
from user_store.routes import admin, credentials_middleware, errors_middleware, internal
from user_store.service import UserStoreService
from user_store.settings import UserStoreSettings

SERVICE = web.AppKey("user_store_service", UserStoreService)


class _ServiceCollector:
    """Exposes the service's counters (kept as plain ints on the hot path) to Prometheus."""

    def __init__(self, service: UserStoreService) -> None:
        self._service = service

    def collect(self) -> list[GaugeMetricFamily]:
        processor, relay = self._service.processor, self._service.relay
        families = []
        for name, doc, value in (
            ("roster_user_store_events_applied", "Ingestion events applied", processor.applied),
            ("roster_user_store_batches_applied", "Ingestion batches committed", processor.batches),
            (
                "roster_user_store_events_dead_lettered",
                "Events sent to the DLQ",
                processor.dead_lettered,
            ),
            ("roster_user_store_outbox_published", "Outbox messages published", relay.published),
        ):
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], value)
            families.append(family)
        return families


def _engine_context(engine: AsyncEngine) -> CleanupContext:
    """Nothing to open (connections are made on demand); the pool is closed at the end."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            loop_reads = _app[LOOP_READS]
            if loop_reads is not None:
                loop_reads.close()
            await engine.dispose()

    return context


def _service_context(
    service: UserStoreService, settings: UserStoreSettings, *, consume: bool
) -> CleanupContext:
    """The topics exist, then the consumer and the outbox relay run (or, reading only, the
    schema is migrated when asked to be)."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        try:
            await service.bus.ensure_topics(service.topics.specs(settings.topic_partitions))
            if consume:
                await service.start()
            elif settings.migrate_on_start:
                await migrate(service.engine)
            yield
        finally:
            await service.stop()

    return context


def create_app(
    settings: UserStoreSettings,
    *,
    bus: Bus | None = None,
    engine: AsyncEngine | None = None,
    clock: Callable[[], datetime] = utcnow,
    consume: bool = True,
) -> web.Application:
    """The user-store: consumer, outbox relay, internal API and admin API.

    ``bus`` and ``engine`` may be passed in (the embedded launcher shares them); otherwise they
    are built from ``settings``. ``consume=False`` serves reads only.
    """
    app = service_app(errors_middleware, credentials_middleware, client_max_size=1_048_576)
    engine = engine or create_engine(settings.database_url)
    # First, so that the engine is disposed whatever fails to start after it (even when
    # passed in: `roster dev` disposes it again, which is harmless).
    app.cleanup_ctx.append(_engine_context(engine))
    bus = attach_bus(app, settings, "user-store", bus)
    service = UserStoreService(
        engine,
        bus,
        group=settings.consumer_group,
        max_batch=settings.max_batch,
        migrate_on_start=settings.migrate_on_start,
        clock=clock,
        topics=Topics(settings.topic_prefix),
        on_death=app[FATAL],
        history_retention=timedelta(days=settings.history_days),
    )
    app[SERVICE] = service
    app[SESSIONS] = service.sessions
    app[READ_SESSIONS] = read_session_factory(engine)
    app[READ_ENGINE] = read_engine(engine)
    app[STATEMENT_ENGINE] = engine.execution_options(isolation_level="AUTOCOMMIT")
    app[LOOP_READS] = LoopReads.of(engine)
    app[ADMIN_TOKEN] = settings.admin_token.get_secret_value()
    app[CURSORS] = Cursors(
        settings.cursor_key.get_secret_value().encode()
        if settings.cursor_key is not None
        else derive_key(settings.admin_token.get_secret_value())
    )
    app[INTERNAL_TOKEN] = settings.internal_token_value()
    registry = app[METRICS]
    registry.register(_ServiceCollector(service))
    registry.register(ConsumerCollector(service))
    Counter("roster_user_store_up", "Always 1 while the process runs", registry=registry).inc()
    ready: Check = Readiness(
        service, engine, app[FATAL], consume=consume, stall_after=settings.stall_after
    )
    app[READY] = ready
    app.cleanup_ctx.append(_service_context(service, settings, consume=consume))
    app.add_routes(health_routes(registry, ready))
    app.add_routes(internal)
    app.add_routes(token_reads.routes)  # the scim-api's reads, token checked in the same hop
    app.add_routes(login_reads.routes)  # sso-login: a returning login answered from a read
    app.add_routes(replay.routes)
    app.add_routes(sso_settings.routes)
    app.add_routes(reconciler_state.routes)
    app.add_routes(webhook_state.routes)  # the webhooks service's storage
    app[DEAD_LETTERS] = DeadLetters(bus, service.topics)
    app.add_routes(dlq_admin.routes)
    app.add_routes(admin)
    app.add_routes(setup_links.routes)
    app.add_routes(request_log.routes)
    app.add_routes(user_history.routes)
    app.add_routes(console_sessions.routes)
    app.add_routes(login_dry_run.routes)
    return app
