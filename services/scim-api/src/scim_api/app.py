"""The scim-api application factory.

The SCIM endpoint is an aiohttp application of its own (:func:`create_api`) whose routes are
relative to :data:`MOUNT`. Standalone, :func:`create_app` mounts it under a root that serves
``/healthz``, ``/readyz`` and ``/metrics``; ``roster dev`` mounts the same application beside the
other services on one port. Either way its absolute paths are ``/scim/v2/{tenant}/...``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from roster_shared.bus.base import Bus
from roster_shared.bus.kafka import kafka_bus_for
from roster_shared.bus.requests import Requester
from roster_shared.observability import count_responses, standalone
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient

from scim_api.errors import errors_middleware
from scim_api.keys import METRICS, PUBLIC_BASE, REQUESTER, SERVICE, STATE, USER_STORE, State
from scim_api.routes import routes
from scim_api.service import ScimService
from scim_api.settings import ScimApiSettings

MOUNT = "/scim"
"""Where the SCIM application is mounted; SCIM base URLs are ``/scim/v2/{tenant}/``."""


def create_api(
    settings: ScimApiSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
) -> web.Application:
    """The SCIM endpoint, to be mounted at :data:`MOUNT`.

    ``bus`` and ``user_store`` may be passed in, started and stopped by their owner (the
    embedded launcher shares one in-process bus); otherwise they are built from ``settings``
    (Kafka and the user-store's URL) and owned by the application.
    """
    registry = CollectorRegistry()
    count = count_responses(registry, "roster_scim_api_responses", "SCIM responses by HTTP status")
    app = web.Application(middlewares=[count, errors_middleware])
    owns_bus = bus is None
    bus = bus if bus is not None else kafka_bus_for(settings, "scim-api")
    owns_client = user_store is None
    if user_store is None:
        token = settings.internal_token.get_secret_value() if settings.internal_token else None
        user_store = UserStoreClient(
            settings.user_store_url, token=token, timeout=settings.request_timeout
        )
    topics = Topics(settings.topic_prefix)
    requester = Requester(bus, topic=topics.replies)
    app[USER_STORE] = user_store
    app[REQUESTER] = requester
    app[SERVICE] = ScimService(user_store, requester, topics, timeout=settings.request_timeout)
    app[METRICS] = registry
    app[PUBLIC_BASE] = settings.public_url + MOUNT
    state = app[STATE] = State()

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        if owns_bus:
            await bus.start()
        try:
            if owns_client:
                await user_store.start()
            await requester.start()
            state.running = True
            yield
        finally:
            state.running = False
            await requester.stop()
            if owns_client:
                await user_store.close()
            if owns_bus:
                await bus.stop()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(routes)
    return app


def create_app(
    settings: ScimApiSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
) -> web.Application:
    """The scim-api on its own: the SCIM endpoint under ``/scim`` plus health and metrics."""
    api = create_api(settings, bus=bus, user_store=user_store)
    state = api[STATE]

    async def ready() -> bool:
        return state.running

    return standalone(api, MOUNT, api[METRICS], ready)
