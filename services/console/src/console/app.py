"""The console application factory: the operator console and the setup portal.

Two aiohttp applications, mounted at :data:`CONSOLE` and :data:`PORTAL` (``roster dev`` mounts
both beside the other services; standalone, :func:`create_app` mounts both under one root with
health and metrics). They share one :class:`~console.backend.Backend` (the console application
opens and closes it) and one :class:`~console.seal.Sealer`; each has the error, header and form
middlewares, and the console also the operator's sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from roster_shared.observability import health_routes
from roster_shared.service import attach_state, resource_context, service_app
from roster_shared.service.keys import METRICS, READY

from console import guard, operator, people, portal, webhooks
from console.backend import Backend, Urls
from console.errors import errors_middleware
from console.keys import BACKEND, SEALER, SETTINGS
from console.seal import Sealer
from console.settings import ConsoleSettings

CONSOLE = "/console"
PORTAL = "/setup"
STATIC = Path(__file__).parent / "static"
MAX_FORM = 2 * 1024 * 1024  # an IdP metadata upload (512 KiB) with room for the form


@dataclass(frozen=True)
class Apps:
    """The two applications and where each is mounted."""

    console: web.Application
    portal: web.Application

    def mounts(self) -> tuple[tuple[str, web.Application], ...]:
        return ((CONSOLE, self.console), (PORTAL, self.portal))


@web.middleware
async def page_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages carry secrets (a token shown once, the setup link in the URL): never cached, never
    framed, and never sent on as a Referer to the IdP documentation an admin clicks through to."""
    response = await handler(request)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    return response


def _templates(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("console", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    )


def create_apis(settings: ConsoleSettings, *, backend: Backend | None = None) -> Apps:
    """The console and the portal, to be mounted at :data:`CONSOLE` and :data:`PORTAL`."""
    if settings.admin_token is None:
        raise ValueError(
            "ROSTER_ADMIN_TOKEN is required: operators sign in to the console with it and the "
            "console acts through the admin APIs with it"
        )
    if settings.session_secret is None:
        raise ValueError(
            "ROSTER_SESSION_SECRET is required: it seals the console's session and form "
            "cookies (16+ random bytes, the same on every console instance)"
        )
    sealer = Sealer(settings.session_secret.get_secret_value().encode())
    owned = backend is None
    backend = backend or Backend(
        Urls(
            settings.user_store_url,
            settings.sso_login_url,
            settings.reconciler_url,
            settings.webhooks_url,
        ),
        admin_token=settings.admin_token.get_secret_value(),
        internal_token=settings.internal_token_value(),
        timeout=settings.request_timeout,
    )
    console_app = service_app(
        errors_middleware,
        page_headers,
        guard.forms_middleware(sealer),
        guard.operator_middleware(sealer, backend, ("/console/signin",), settings.session_max_age),
        responses=("roster_console_responses", "Console responses by HTTP status"),
        client_max_size=MAX_FORM,
    )
    portal_app = service_app(
        errors_middleware, page_headers, guard.forms_middleware(sealer), client_max_size=MAX_FORM
    )
    for app in (console_app, portal_app):
        app[BACKEND] = backend
        app[SEALER] = sealer
        app[SETTINGS] = settings
        _templates(app)
    if owned:
        console_app.cleanup_ctx.append(resource_context(backend.start, backend.close))
    attach_state(console_app)
    console_app.router.add_static("/static", STATIC)
    console_app.add_routes(operator.routes)
    console_app.add_routes(people.routes)
    console_app.add_routes(webhooks.routes)
    portal_app.add_routes(portal.routes)
    return Apps(console_app, portal_app)


def create_app(settings: ConsoleSettings, *, backend: Backend | None = None) -> web.Application:
    """The console on its own: ``/console`` and ``/setup`` plus health and metrics."""
    apps = create_apis(settings, backend=backend)
    root = web.Application()
    root.add_routes(health_routes(apps.console[METRICS], apps.console[READY]))
    for prefix, app in apps.mounts():
        root.add_subapp(prefix, app)
    return root
