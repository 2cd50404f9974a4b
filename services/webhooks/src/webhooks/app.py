"""The webhooks application factory.

The service consumes ``roster.lifecycle`` in its own consumer group (``roster-webhooks``), hands
each batch to the user-store (which stores the events once and fans them out to the tenant's
endpoints), and sends due deliveries, signed, in order per user. Everything it keeps is written
through the user-store's internal API. Its admin API lives in an application mounted at
:data:`MOUNT`, standalone (:func:`create_app`) and inside ``roster dev`` alike.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from aiohttp import web
from roster_shared.bus.base import Bus
from roster_shared.events.envelope import utcnow
from roster_shared.service import (
    METRICS,
    CleanupContext,
    attach_bus,
    attach_state,
    resource_context,
    service_app,
    standalone_root,
)
from roster_shared.topics import Topics

from webhooks.consumer import batch_handler
from webhooks.dispatcher import Dispatcher
from webhooks.errors import errors_middleware
from webhooks.housekeeping import Housekeeper
from webhooks.keys import (
    ADMIN_TOKEN,
    DISPATCHER,
    GUARD,
    HOUSEKEEPER,
    SECRET_OVERLAP,
    STORE,
    VAULT,
)
from webhooks.retry import RetryPolicy
from webhooks.routes import routes
from webhooks.sender import Sender
from webhooks.settings import WebhooksSettings
from webhooks.ssrf import Guard, Resolve, system_resolve
from webhooks.store import WebhookStore
from webhooks.vault import Vault

MOUNT = "/webhooks"
"""Where the webhooks application is mounted."""


def create_api(
    settings: WebhooksSettings,
    *,
    bus: Bus | None = None,
    resolve: Resolve = system_resolve,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The admin API, consumer and dispatcher, to be mounted at :data:`MOUNT`.

    ``resolve`` is the DNS the SSRF guard asks (tests pass a stand-in); a ``bus`` passed in is
    started and stopped by whoever passed it.
    """
    app = service_app(errors_middleware)
    app.add_routes(routes)
    bus = attach_bus(app, settings, "webhooks", bus)
    store = WebhookStore(
        settings.user_store_url,
        token=settings.internal_token_value(),
        timeout=settings.request_timeout,
    )
    guard = Guard(allow_loopback=settings.allow_loopback, resolve=resolve)
    sender = Sender(
        guard,
        timeout=settings.delivery_timeout,
        max_response_bytes=settings.max_response_bytes,
        max_redirects=settings.max_redirects,
        concurrency=settings.concurrency,
    )
    vault = Vault(settings.webhook_key.get_secret_value())
    dispatcher = Dispatcher(
        store,
        sender,
        vault,
        RetryPolicy(settings.retry_base, settings.retry_cap, settings.retry_for),
        holder=settings.instance_id or f"webhooks-{uuid.uuid4().hex[:8]}",
        concurrency=settings.concurrency,
        claim_batch=settings.claim_batch,
        lease_seconds=settings.lease_seconds,
        poll_interval=settings.poll_interval,
        registry=app[METRICS],
        clock=clock,
    )
    housekeeper = Housekeeper(
        store,
        delivery_retention=timedelta(seconds=settings.delivery_retention),
        event_retention=timedelta(seconds=settings.event_retention),
        interval=settings.housekeeping_interval,
        clock=clock,
    )
    app[STORE] = store
    app[HOUSEKEEPER] = housekeeper
    app[GUARD] = guard
    app[VAULT] = vault
    app[DISPATCHER] = dispatcher
    app[ADMIN_TOKEN] = settings.admin_token.get_secret_value() if settings.admin_token else None
    app[SECRET_OVERLAP] = settings.secret_overlap
    app.cleanup_ctx.append(resource_context(store.start, store.close))
    app.cleanup_ctx.append(resource_context(sender.start, sender.close))
    app.cleanup_ctx.append(resource_context(dispatcher.start, dispatcher.stop))
    app.cleanup_ctx.append(resource_context(housekeeper.start, housekeeper.stop))
    app.cleanup_ctx.append(
        _consumer_context(bus, settings, Topics(settings.topic_prefix), store, dispatcher)
    )
    attach_state(app)
    return app


def _consumer_context(
    bus: Bus,
    settings: WebhooksSettings,
    topics: Topics,
    store: WebhookStore,
    dispatcher: Dispatcher,
) -> CleanupContext:
    """The consumer group member on ``roster.lifecycle`` while the application runs."""

    async def context(_app: web.Application) -> AsyncIterator[None]:
        # The user-store creates the topics (with the install's partition count).
        # Under the install's topic prefix: installs sharing a cluster do not share a group.
        subscription = bus.subscribe(
            topics.prefix + settings.consumer_group,
            [topics.lifecycle],
            batch_handler(store, dispatcher.wake),
        )
        await subscription.start()
        try:
            yield
        finally:
            await subscription.stop()

    return context


def create_app(
    settings: WebhooksSettings,
    *,
    bus: Bus | None = None,
    resolve: Resolve = system_resolve,
) -> web.Application:
    """The webhooks service on its own: health and metrics, and its API under :data:`MOUNT`."""
    return standalone_root(create_api(settings, bus=bus, resolve=resolve), MOUNT)
