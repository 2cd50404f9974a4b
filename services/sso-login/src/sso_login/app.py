"""The sso-login application factory.

Single sign-on is an aiohttp application of its own (:func:`create_api`) whose routes are
relative to :data:`MOUNT`. Standalone, :func:`create_app` mounts it under a root that serves
``/healthz``, ``/readyz`` and ``/metrics``; ``roster dev`` mounts the same application beside the
other services on one port. Either way its absolute paths are ``/sso/...``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web
from roster_shared.bus.base import Bus
from roster_shared.request_log import Recorder
from roster_shared.service import (
    CHECKS,
    FATAL,
    CleanupContext,
    attach_bus,
    attach_requester,
    attach_state,
    attach_user_store,
    resource_context,
    standalone_root,
)
from roster_shared.service.front_door import front_door_app
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient

from sso_login.admin import routes as admin_routes
from sso_login.errors import Overloaded, Unavailable, errors_middleware
from sso_login.keys import CONTEXT, Context
from sso_login.oidc import OidcProviders
from sso_login.oidc.routes import routes as oidc_routes
from sso_login.request_log import RECORDER
from sso_login.routes import routes
from sso_login.saml import SpKeys
from sso_login.saml.routes import routes as saml_routes
from sso_login.sessions import Sessions
from sso_login.settings import SsoLoginSettings
from sso_login.tokens import Sealer
from sso_login.workers import XmlWorkers

MOUNT = "/sso"
"""Where single sign-on is mounted: ``/sso/{tenant}/login``, ``/sso/{tenant}/saml/...``."""


def create_api(
    settings: SsoLoginSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
) -> web.Application:
    """Single sign-on, to be mounted at :data:`MOUNT`.

    The bus and the user-store client are the application's own unless passed in, as in
    ``roster dev``, whose one in-process bus every service shares.
    """
    app = front_door_app(
        errors_middleware,
        settings,
        metrics_prefix="roster_sso_login",
        responses=("roster_sso_login_responses", "SSO responses by HTTP status"),
        overloaded=Overloaded,
        expired=lambda: Unavailable(
            "Sign-in took too long; please try again.",
            reason=f"request deadline ({settings.request_deadline:g}s) passed",
        ),
    )
    bus = attach_bus(app, settings, "sso-login", bus)
    if settings.session_secret is None:
        raise ValueError(
            "ROSTER_SESSION_SECRET is required: it seals login sessions and must be the same "
            "on every sso-login instance (32+ random bytes)"
        )
    topics = Topics(settings.topic_prefix)
    user_store = attach_user_store(app, settings, user_store)
    attach_requester(app, bus, topics.replies)
    sealer = Sealer(settings.session_secret.get_secret_value().encode())
    sessions = Sessions(sealer, user_store)
    providers = OidcProviders(
        refetch_interval=settings.jwks_refetch_interval, timeout=settings.request_timeout
    )
    xml_workers = XmlWorkers(
        threads=settings.saml_workers,
        max_pending=max(settings.saml_max_pending, settings.saml_workers),
        budget=settings.saml_time_budget,
    )
    sp_keys = None
    if settings.saml_sp_cert and settings.saml_sp_key:
        sp_keys = SpKeys(settings.saml_sp_cert, settings.saml_sp_key.get_secret_value())
    app[CONTEXT] = Context(
        settings=settings,
        topics=topics,
        sealer=sealer,
        sessions=sessions,
        providers=providers,
        xml_workers=xml_workers,
        sp_keys=sp_keys,
    )
    # OIDC discovery, JWKS and token endpoints.
    app.cleanup_ctx.append(resource_context(providers.start, providers.close))
    app.cleanup_ctx.append(_revocations_context(bus, topics, sessions))
    app.cleanup_ctx.append(xml_workers.lifecycle)
    app[RECORDER] = None
    if settings.request_log:
        recorder = app[RECORDER] = Recorder(
            settings.user_store_url, token=settings.internal_token_value()
        )
        app.cleanup_ctx.append(recorder.context())
    attach_state(app)
    app.add_routes(admin_routes)
    app.add_routes(saml_routes)
    app.add_routes(oidc_routes)
    app.add_routes(routes)
    return app


def _revocations_context(bus: Bus, topics: Topics, sessions: Sessions) -> CleanupContext:
    """Lifecycle events revoke sessions (a deactivated user is signed out on every instance)."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        revocations = bus.listen(topics.lifecycle, sessions.on_lifecycle)
        # Without it a deactivated user would stay signed in: readiness depends on it, and
        # its loop ending on its own is fatal (the process restarts).
        revocations.on_death = app[FATAL]

        async def listening() -> bool:
            return revocations.alive

        app[CHECKS].append(listening)
        try:
            await revocations.start()
            sessions.listening_since = time.time()
            yield
        finally:
            await revocations.stop()

    return context


def create_app(
    settings: SsoLoginSettings,
    *,
    bus: Bus | None = None,
    user_store: UserStoreClient | None = None,
) -> web.Application:
    """sso-login on its own: single sign-on under ``/sso`` plus health and metrics."""
    return standalone_root(create_api(settings, bus=bus, user_store=user_store), MOUNT)
