"""The one place that composes Roster's services into applications.

``roster dev``, ``roster reconcile`` on the embedded store, the test stacks and the benches all
build their services here, so the wiring (which settings each service gets, the one bus, the one
database engine, where each application is mounted) is written once.

Composition. The user-store's application is the root: its paths (``/admin/...``,
``/internal/...``, ``/healthz``, ``/readyz``, ``/metrics``) are absolute already. scim-api,
sso-login and the reconciler each build an aiohttp application of their own (``create_api``)
whose routes are relative to the service's ``MOUNT`` prefix; their standalone ``create_app``
mounts it under that prefix, and so does :func:`compose`. So every absolute path
(``/scim/v2/...``, ``/sso/...``, ``/reconciler/...``) is the same standalone and composed, each
service keeps its own middlewares, and aiohttp starts and stops the mounted applications with the
root. The services meet as they do in production: the others read from the user-store over HTTP
(``Wiring.self_url``, with the internal credential) and send events over the one shared bus —
except that with ``compose(..., in_process=True)`` (``roster dev``) scim-api's and sso-login's
hot reads call the user-store in this process (:mod:`roster_cli.inprocess`), with the same
answers and errors and without the loopback HTTP hop.

Health. The root's ``/readyz`` and ``/metrics`` cover every composed service: ready only when the
user-store and each mounted service are, and one exposition of every service's registry.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from console import app as console_app
from console import keys as console_keys
from console.settings import ConsoleSettings
from cryptography.fernet import Fernet
from prometheus_client import CollectorRegistry, generate_latest
from reconciler import app as reconciler_app
from reconciler import keys as reconciler_keys
from reconciler.settings import ReconcilerSettings
from roster_shared.bus.base import Bus
from roster_shared.events.envelope import utcnow
from roster_shared.observability import Check
from roster_shared.service import FATAL, READY, resource_context
from roster_shared.service.admission import shed_before_routing
from roster_shared.service.keys import EARLY_SHED
from scim_api import app as scim_app
from scim_api import keys as scim_keys
from scim_api.settings import ScimApiSettings
from sqlalchemy.ext.asyncio import AsyncEngine
from sso_login import app as sso_app
from sso_login import keys as sso_keys
from sso_login.settings import SsoLoginSettings
from user_store import app as user_store_app
from user_store.settings import UserStoreSettings
from webhooks import app as webhooks_app
from webhooks import keys as webhooks_keys
from webhooks.settings import WebhooksSettings

from roster_cli.inprocess import InProcessUserStore

SCIM_API = "scim-api"
SSO_LOGIN = "sso-login"
RECONCILER = "reconciler"
CONSOLE = "console"
WEBHOOKS = "webhooks"
MOUNTED = (SCIM_API, SSO_LOGIN, RECONCILER, CONSOLE, WEBHOOKS)
"""The services mounted beside the user-store, in mount order."""


@dataclass(frozen=True)
class Wiring:
    """What the composed services share: credentials, where the user-store answers, topics.

    ``overrides`` holds further settings per service name (``"user-store"``, ``"scim-api"``,
    ``"sso-login"``, ``"reconciler"``): what differs between ``roster dev``, the tests and the
    benches is passed here, not rewritten.
    """

    database_url: str
    self_url: str
    """Where the user-store answers (the composed root's own address, or its own server)."""
    public_url: str | None = None
    """The public base URL of scim-api and sso-login (default: ``self_url``)."""
    admin_token: str | None = None
    internal_token: str | None = None
    topic_prefix: str = ""
    session_secret: str | None = None
    directory_key: str | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def _extra(self, service: str) -> dict[str, Any]:
        return dict(self.overrides.get(service, {}))

    def _public(self) -> str:
        return self.public_url or self.self_url


def user_store(
    wiring: Wiring,
    *,
    bus: Bus,
    engine: AsyncEngine | None = None,
    consume: bool = True,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """The user-store's application on ``bus`` (and ``engine``, else one built from the URL)."""
    settings: dict[str, Any] = {
        "database_url": wiring.database_url,
        "topic_prefix": wiring.topic_prefix,
        **({"internal_token": wiring.internal_token} if wiring.internal_token else {}),
        **wiring._extra("user-store"),
    }
    settings.setdefault("admin_token", wiring.admin_token or "")
    return user_store_app.create_app(
        UserStoreSettings(**settings), bus=bus, engine=engine, clock=clock, consume=consume
    )


def service_api(
    name: str,
    wiring: Wiring,
    *,
    bus: Bus,
    clock: Callable[[], datetime] = utcnow,
    user_store_app: web.Application | None = None,
) -> web.Application:
    """The application of ``name`` (one of :data:`MOUNTED`), to be mounted at its prefix.

    With ``user_store_app`` (the user-store's application, in this process) scim-api and
    sso-login read from it in process (:mod:`roster_cli.inprocess`) instead of over HTTP."""
    common: dict[str, Any] = {
        "user_store_url": wiring.self_url,
        "topic_prefix": wiring.topic_prefix,
        **({"internal_token": wiring.internal_token} if wiring.internal_token else {}),
    }
    if name == SCIM_API:
        scim = ScimApiSettings(**{**common, "public_url": wiring._public(), **wiring._extra(name)})
        client = _in_process(user_store_app, scim)
        return _owning(scim_app.create_api(scim, bus=bus, user_store=client), client)
    if name == SSO_LOGIN:
        sso = SsoLoginSettings(
            **{
                **common,
                "public_url": wiring._public(),
                "admin_token": wiring.admin_token,
                "session_secret": wiring.session_secret,
                **wiring._extra(name),
            }
        )
        client = _in_process(user_store_app, sso)
        return _owning(sso_app.create_api(sso, bus=bus, user_store=client), client)
    if name == RECONCILER:
        settings = ReconcilerSettings(
            **{
                **common,
                "admin_token": wiring.admin_token,
                "directory_key": wiring.directory_key,
                **wiring._extra(name),
            }
        )
        return reconciler_app.create_api(settings, bus=bus, clock=clock)
    if name == CONSOLE:
        return console_apis(wiring).console
    if name == WEBHOOKS:
        return _webhooks_api(wiring, common, bus=bus, clock=clock)
    raise ValueError(f"no service {name!r} to mount (one of {', '.join(MOUNTED)})")


def console_apis(wiring: Wiring) -> console_app.Apps:
    """The console and the setup portal (two applications: ``/console`` and ``/setup``).

    Everything it acts through answers at ``wiring.self_url`` when composed: the user-store's
    admin and internal APIs, sso-login's, the reconciler's and the webhooks service's admin APIs.
    """
    settings = ConsoleSettings(
        **{
            "user_store_url": wiring.self_url,
            "sso_login_url": wiring.self_url,
            "reconciler_url": wiring.self_url,
            "webhooks_url": wiring.self_url,
            "public_url": wiring._public(),
            "admin_token": wiring.admin_token,
            "session_secret": wiring.session_secret,
            **({"internal_token": wiring.internal_token} if wiring.internal_token else {}),
            **wiring._extra(CONSOLE),
        }
    )
    return console_app.create_apis(settings)


def _in_process(
    user_store_app: web.Application | None, settings: ScimApiSettings | SsoLoginSettings
) -> InProcessUserStore | None:
    """The in-process client of a service's settings (as ``attach_user_store`` builds the HTTP
    one), or None: the service builds its own HTTP client."""
    if user_store_app is None:
        return None
    return InProcessUserStore(
        user_store_app,
        settings.user_store_url,
        token=settings.internal_token_value(),
        timeout=settings.request_timeout,
    )


def _owning(api: web.Application, client: InProcessUserStore | None) -> web.Application:
    """``api``, which opens and closes ``client`` (its HTTP pool, for the calls not made in
    process): first of its resources, so open before any other starts and closed last."""
    if client is not None:
        api.cleanup_ctx.insert(0, resource_context(client.start, client.close))
    return api


def _webhooks_api(
    wiring: Wiring, common: dict[str, Any], *, bus: Bus, clock: Callable[[], datetime]
) -> web.Application:
    """The webhooks service. Its signing-secret key comes from ``overrides["webhooks"]``
    (``roster dev`` keeps one in its data directory); without one a key for this process only
    is made, so secrets registered now do not survive a restart (fine for tests and benches)."""
    extra = wiring._extra(WEBHOOKS)
    extra.setdefault("webhook_key", Fernet.generate_key().decode())
    settings = WebhooksSettings(**{**common, "admin_token": wiring.admin_token, **extra})
    return webhooks_app.create_api(settings, bus=bus, clock=clock)


def prefix(name: str) -> str:
    """Where ``name``'s application is mounted (``/scim``, ``/sso``, ``/reconciler``,
    ``/console`` — and the console's portal at ``/setup`` —, ``/webhooks``)."""
    return {
        SCIM_API: scim_app.MOUNT,
        SSO_LOGIN: sso_app.MOUNT,
        RECONCILER: reconciler_app.MOUNT,
        CONSOLE: console_app.CONSOLE,
        WEBHOOKS: webhooks_app.MOUNT,
    }[name]


@dataclass(frozen=True)
class Probe:
    """One mounted service as the composed ``/readyz`` and ``/metrics`` see it."""

    name: str
    api: web.Application
    registry: CollectorRegistry
    ready: Check


PROBES = web.AppKey("composed_probes", tuple)
"""The mounted services of a composed root (:func:`compose`), as :class:`Probe` s."""


def probe(name: str, api: web.Application) -> Probe:
    """Readiness and metrics of a mounted service's application (its own app keys)."""
    keys: Any = {
        SCIM_API: scim_keys,
        SSO_LOGIN: sso_keys,
        RECONCILER: reconciler_keys,
        CONSOLE: console_keys,
        WEBHOOKS: webhooks_keys,
    }[name]
    return Probe(name, api, api[keys.METRICS], api[READY])


def compose(
    wiring: Wiring,
    *,
    bus: Bus,
    engine: AsyncEngine | None = None,
    services: Iterable[str] = MOUNTED,
    consume: bool = True,
    clock: Callable[[], datetime] = utcnow,
    in_process: bool = False,
) -> web.Application:
    """One application serving the user-store and ``services`` mounted at their prefixes.

    ``bus`` is shared and owned by the caller (started before, stopped after); ``engine`` is the
    user-store's (disposed with the application). ``in_process``: scim-api and sso-login make
    their hot reads by calling the user-store in this process (:mod:`roster_cli.inprocess`),
    not over HTTP — ``roster dev`` does; the production path is separate processes over HTTP.
    """
    root = user_store(wiring, bus=bus, engine=engine, consume=consume, clock=clock)
    probes = []
    for name in services:
        if name == CONSOLE:
            # Two applications, one service: the operator console and the setup portal.
            apps = console_apis(wiring)
            for mount, app in apps.mounts():
                root.add_subapp(mount, app)
            probes.append(probe(name, apps.console))
            continue
        api = service_api(
            name, wiring, bus=bus, clock=clock, user_store_app=root if in_process else None
        )
        root.add_subapp(prefix(name), api)
        if EARLY_SHED in api:
            shed_before_routing(root, prefix(name), api[EARLY_SHED])
        probes.append(probe(name, api))
        # One process: a mounted service's fatal failure (its reply listener died) is the
        # whole process's, reported where `roster dev` looks.
        api[FATAL].handlers.append(root[FATAL])
    root[PROBES] = tuple(probes)
    # The user-store's own /readyz and /metrics answer for it alone; this innermost middleware
    # asks them and then adds the mounted services (a root route cannot be registered twice).
    root.middlewares.append(_composed_health(tuple(probes)))
    return root


def _composed_health(probes: tuple[Probe, ...]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def health(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != "GET" or request.path not in ("/readyz", "/metrics"):
            return await handler(request)
        own = await handler(request)  # the user-store's answer
        if not isinstance(own, web.Response):
            return own
        if request.path == "/metrics":
            body = (own.body if isinstance(own.body, bytes) else b"") + b"".join(
                generate_latest(p.registry) for p in probes
            )
            response = web.Response(body=body, status=own.status)
            response.content_type = own.content_type
            return response
        states = {"user-store": own.status == 200, **{p.name: await p.ready() for p in probes}}
        ok = all(states.values())
        return web.json_response(
            {
                "status": "ready" if ok else "not ready",
                "services": {k: "ready" if v else "not ready" for k, v in states.items()},
            },
            status=200 if ok else 503,
        )

    return health


@contextlib.asynccontextmanager
async def listening(
    app: web.Application, sock: socket.socket | None = None, **runner: Any
) -> AsyncIterator[str]:
    """Serve ``app`` on ``sock`` (default: a free loopback port) until the block ends; yields
    the base URL. ``runner``: options of :class:`aiohttp.web.AppRunner`."""
    sock = sock or bind("127.0.0.1", 0)
    host, port = sock.getsockname()[:2]
    app_runner = web.AppRunner(app, handle_signals=False, **runner)
    try:
        await app_runner.setup()
        await web.SockSite(app_runner, sock).start()
        yield f"http://{url_host(host)}:{port}"
    finally:
        await app_runner.cleanup()
        sock.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything starts (a busy port fails first)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=128)


def url_host(host: str) -> str:
    """A host to put in URLs for a listening address (a wildcard becomes the loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - comparing, not binding
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
