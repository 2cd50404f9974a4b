"""The resources several services hold, each opened and closed in one cleanup context.

aiohttp's "Cleanup Context": a service appends one context per resource to
``app.cleanup_ctx`` in the order they start; they stop in reverse, and when one fails to start
the ones before it are still stopped. A resource passed in (``roster dev`` shares one bus, tests
pass fakes) belongs to whoever passed it: it is stored, never started or stopped here.

The ``attach_*`` functions do the three steps each service did by hand: build the resource from
the settings or take the one passed in, store it under its key, and register its context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from roster_shared.bus.base import Bus
from roster_shared.bus.kafka import kafka_bus_for
from roster_shared.bus.requests import Requester
from roster_shared.observability import Check
from roster_shared.service.keys import (
    BUS,
    CHECKS,
    FATAL,
    READY,
    REQUESTER,
    STATE,
    USER_STORE,
    Fatal,
    State,
)
from roster_shared.service.settings import ServiceSettings, UserStoreClientSettings
from roster_shared.userstore_client import UserStoreClient

CleanupContext = Callable[[web.Application], AsyncIterator[None]]
"""What ``app.cleanup_ctx`` takes: an async generator that yields once everything is started."""


def checks_of(app: web.Application) -> list[Check]:
    """The application's readiness checks (``CHECKS``), made empty on first use."""
    if CHECKS not in app:
        app[CHECKS] = []
    return app[CHECKS]


def fatal_of(app: web.Application) -> Fatal:
    """The application's fatal-failure record (``FATAL``), made on first use."""
    if FATAL not in app:
        app[FATAL] = Fatal()
    return app[FATAL]


async def _passed_in(_app: web.Application) -> AsyncIterator[None]:
    yield  # started and stopped by whoever passed it in


def bus_context(bus: Bus, *, owned: bool) -> CleanupContext:
    """Start and stop ``bus`` with the application, if the application owns it."""
    if not owned:
        return _passed_in

    async def context(_app: web.Application) -> AsyncIterator[None]:
        # Outside the try: a bus that fails to start closes what it opened itself.
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()

    return context


def resource_context(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> CleanupContext:
    """A resource the application owns, opened by ``start`` and closed by ``stop`` — also when
    ``start`` failed half-way (closing what never opened is harmless for every one of ours)."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        try:
            await start()
            yield
        finally:
            await stop()

    return context


def user_store_context(client: UserStoreClient, *, owned: bool) -> CleanupContext:
    """Open and close the user-store client's connection pool, if the application owns it."""
    return resource_context(client.start, client.close) if owned else _passed_in


def requester_context(requester: Requester) -> CleanupContext:
    """Read replies while the application runs (a requester is always the application's own)."""
    return resource_context(requester.start, requester.stop)


def running_context(state: State) -> CleanupContext:
    """``state.running`` while the application serves: registered last, so it is True only once
    every resource registered before it has started, and False before any of them stops."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        state.running = True
        try:
            yield
        finally:
            state.running = False

    return context


def attach_bus(
    app: web.Application, settings: ServiceSettings, service: str, bus: Bus | None
) -> Bus:
    """The bus passed in, or a Kafka bus from ``settings`` that the application owns.

    Standalone, a missing ``ROSTER_KAFKA_BOOTSTRAP`` is a ``ValueError`` here, at start.
    """
    owned = bus is None
    bus = bus if bus is not None else kafka_bus_for(settings, service)
    app[BUS] = bus
    app.cleanup_ctx.append(bus_context(bus, owned=owned))
    checks_of(app).append(bus.reachable)
    return bus


def attach_user_store(
    app: web.Application,
    settings: UserStoreClientSettings,
    client: UserStoreClient | None,
    make: Callable[..., UserStoreClient] = UserStoreClient,
) -> UserStoreClient:
    """The user-store client passed in, or one to ``settings.user_store_url`` that the
    application owns, built by ``make`` (a subclass that answers some reads itself, e.g.
    ``scim_api.reader``)."""
    owned = client is None
    if client is None:
        client = make(
            settings.user_store_url,
            token=settings.internal_token_value(),
            timeout=settings.request_timeout,
        )
    app[USER_STORE] = client
    app.cleanup_ctx.append(user_store_context(client, owned=owned))
    return client


def attach_requester(app: web.Application, bus: Bus, replies: str) -> Requester:
    """A requester awaiting the user-store's replies on topic ``replies`` of ``bus``."""
    requester = Requester(bus, topic=replies, on_death=fatal_of(app))
    app[REQUESTER] = requester
    app.cleanup_ctx.append(requester_context(requester))

    async def listening() -> bool:
        return requester.alive

    checks_of(app).append(listening)
    return requester


def ready_when_running(
    state: State, checks: list[Check] | None = None, fatal: Fatal | None = None
) -> Check:
    """A readiness check: ready while the application's resources run, nothing fatal happened,
    and every one of ``checks`` holds (asked in order, stopping at the first that fails)."""

    async def ready() -> bool:
        if not state.running or (fatal is not None and fatal.reason is not None):
            return False
        for check in checks or ():
            if not await check():
                return False
        return True

    return ready


def attach_state(app: web.Application) -> State:
    """The readiness state (``STATE``, checked by ``READY``), running once all contexts
    registered before this call have started.

    Call it after the service has registered its own resources.
    """
    state = app[STATE] = State()
    app[READY] = ready_when_running(state, checks_of(app), fatal_of(app))
    app.cleanup_ctx.append(running_context(state))
    return state
