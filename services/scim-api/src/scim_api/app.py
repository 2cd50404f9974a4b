"""The scim-api application factory.

The SCIM endpoint is an aiohttp application of its own (:func:`create_api`) whose routes are
relative to :data:`MOUNT`. Standalone, :func:`create_app` mounts it under a root that serves
``/healthz``, ``/readyz`` and ``/metrics``; ``roster dev`` mounts the same application beside the
other services on one port. Either way its absolute paths are ``/scim/v2/{tenant}/...``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from aiohttp import web
from roster_shared.bus.base import Bus
from roster_shared.request_log import Recorder
from roster_shared.service import (
    attach_bus,
    attach_requester,
    attach_state,
    attach_user_store,
    checks_of,
    standalone_root,
)
from roster_shared.service.front_door import front_door_app
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient

from scim_api.errors import Overloaded, Unavailable, error_response, errors_middleware
from scim_api.keys import PUBLIC_BASE, SERVICE
from scim_api.reader import ReaderClient
from scim_api.request_log import recording_middleware
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

    ``bus`` and ``user_store`` may be passed in (``roster dev`` shares one in-process bus) and
    belong to whoever passed them; otherwise the application builds and owns them.
    """
    app = front_door_app(
        errors_middleware,
        settings,
        metrics_prefix="roster_scim_api",
        responses=("roster_scim_api_responses", "SCIM responses by HTTP status"),
        overloaded=Overloaded,
        refusal=lambda retry_after: error_response(
            503, Overloaded("total", retry_after).detail, headers={"Retry-After": str(retry_after)}
        ),
        tenant_at=1,  # /scim/v2/{tenant}/...
        expired=lambda: Unavailable(
            f"the request did not complete within {settings.request_deadline:g}s; "
            "it may still apply. Read the resource before retrying"
        ),
    )
    topics = Topics(settings.topic_prefix)
    bus = attach_bus(app, settings, "scim-api", bus)
    user_store = attach_user_store(app, settings, user_store, _user_store_client(settings))
    if isinstance(user_store, ReaderClient):
        # Reads and token checks depend on the reader database: not ready without it.
        checks_of(app).append(user_store.reachable)
    requester = attach_requester(app, bus, topics.replies)
    app[SERVICE] = ScimService(user_store, requester, topics, timeout=settings.request_timeout)
    app[PUBLIC_BASE] = settings.public_url + MOUNT
    if settings.request_log:
        recorder = Recorder(settings.user_store_url, token=settings.internal_token_value())
        # Outermost: it records the answer the IdP got, after the error middleware made it.
        app.middlewares.insert(0, recording_middleware(recorder))
        app.cleanup_ctx.append(recorder.context())
    attach_state(app)
    app.add_routes(routes)
    return app


def _user_store_client(settings: ScimApiSettings) -> Callable[..., UserStoreClient]:
    """What the application's own user-store client is: with a reader database URL, one that
    answers the hot reads and the token check from the reader functions (scim_api.reader)."""
    if settings.reader_database_url is None:
        return UserStoreClient
    return functools.partial(
        ReaderClient,
        reader_url=settings.reader_database_url.get_secret_value(),
        pool_size=settings.reader_pool_size,
    )


def create_app(
    settings: ScimApiSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
) -> web.Application:
    """The scim-api on its own: the SCIM endpoint under ``/scim`` plus health and metrics."""
    return standalone_root(create_api(settings, bus=bus, user_store=user_store), MOUNT)
