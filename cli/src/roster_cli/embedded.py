"""``roster dev``: all four services in one process, on one port, on SQLite and the in-process bus.

The services are composed by :mod:`roster_cli.compose` (the user-store's application as the root,
the others mounted at their prefixes); this module owns what is particular to ``roster dev``: the
data directory and its lock, the demo tenant, the banner, and stopping on a signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from roster_shared.bus.memory import MemoryBus
from roster_shared.observability import configure_logging
from roster_shared.service import FATAL
from roster_shared.service.run import EXIT_FATAL
from roster_shared.settings import RosterSettings
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.tenants import IssuedToken

from roster_cli import bus_events
from roster_cli import reconcile as reconcile_commands
from roster_cli import webhooks as webhook_commands
from roster_cli.compose import Wiring, bind, compose
from roster_cli.compose import url_host as _url_host
from roster_cli.data import (
    ADMIN_TOKEN_FILE,
    DEFAULT_DATA,
    admin_token,
    prepare_data_dir,
    sqlite_url,
)

DEMO_TENANT = "demo"
LOCK_FILE = "dev.lock"


def dev_wiring(
    *,
    database_url: str,
    admin_token: str,
    self_url: str,
    directory_key: str | None,
    webhook_key: str | None = None,
) -> Wiring:
    """What ``roster dev`` gives the services: fresh per-run internal and session secrets;
    webhooks may go to loopback (a receiver on this machine) under the kept signing-secret key."""
    webhooks = {"allow_loopback": True, **({"webhook_key": webhook_key} if webhook_key else {})}
    return Wiring(
        overrides={"webhooks": webhooks},
        database_url=database_url,
        self_url=self_url,
        admin_token=admin_token,
        internal_token=secrets.token_urlsafe(32),
        # Per run: a restart of `roster dev` signs everyone out, which is fine for development.
        session_secret=secrets.token_urlsafe(32),
        directory_key=directory_key,
    )


@dataclass(frozen=True)
class Welcome:
    """The tenant the banner shows, and its SCIM token if it was just made."""

    tenant: TenantInfo | None
    token: IssuedToken | None
    created: bool
    count: int


async def prepare(engine: AsyncEngine) -> Welcome:
    """Migrate, and on a fresh database create the ``demo`` tenant with one SCIM token."""
    await migrate(engine)
    async with session_factory(engine)() as session, session.begin():
        existing = await tenants.list_tenants(session)
        if not existing:
            tenant = await tenants.create_tenant(
                session, DEMO_TENANT, ProvisioningMode.SCIM_JIT, display_name="Demo"
            )
            token = await tenants.issue_token(session, tenant.id, label="roster dev")
            return Welcome(tenant, token, created=True, count=1)
    shown = next((t for t in existing if t.slug == DEMO_TENANT), existing[0])
    return Welcome(shown, None, created=False, count=len(existing))


def banner(base: str, data: Path, welcome: Welcome, admin: str, admin_new: bool) -> str:
    """What ``roster dev`` prints once it is listening."""
    data_flag = "" if data == Path.cwd() / DEFAULT_DATA else f" --data {data}"
    # Started by `uv run` (as ./scripts/dev does), `roster` is likely not on the PATH.
    roster = "uv run roster" if os.environ.get("UV") else "roster"
    lines = [
        f"Roster is running at {base}: user-store, scim-api, sso-login, reconciler,",
        "webhooks and console in one process (embedded: SQLite and the in-process bus).",
        "",
        f"Console          {base}/console  (sign in with the admin token below)",
        "",
    ]
    tenant = welcome.tenant
    if tenant is not None:
        slug = tenant.slug
        if welcome.created:
            lines.append(f'Tenant "{slug}" (mode {tenant.mode.value}) was created for you.')
        else:
            others = welcome.count - 1
            more = f" and {others} more ({roster} tenant list{data_flag})" if others else ""
            lines.append(f'Tenant "{slug}" (mode {tenant.mode.value}){more}.')
        lines.append(f"  SCIM base URL   {base}/scim/v2/{slug}/")
        if welcome.token is not None:
            lines.append(f"  SCIM token      {welcome.token.token}")
            lines.append("                  shown only this once: put it in your IdP now")
        else:
            lines.append(
                f"  SCIM token      not shown again; mint one with: "
                f"{roster} tenant token create {slug}{data_flag}"
            )
        lines.append(f"  SSO login       {base}/sso/{slug}/login")
        lines.append(f"  SAML metadata   {base}/sso/{slug}/saml/metadata  (give it to your IdP)")
        public_flag = "" if base == "http://127.0.0.1:8000" else f" --public-url {base}"
        lines.append(
            f"  Connect an IdP  {roster} connection saml {slug} --metadata IDP.xml"
            f"{data_flag}{public_flag}"
        )
    lines += [
        "",
        f"Admin API        {base}/admin/tenants",
        f"Admin token      {admin}",
        f"                 {'made now and kept' if admin_new else 'kept'} in "
        f"{data / ADMIN_TOKEN_FILE}; send it as 'Authorization: Bearer <token>'",
        f"Health           {base}/healthz",
        f"Data             {data}  (SQLite database roster.db; a restart keeps it)",
        "",
        f"Manage tenants with: {roster} tenant --help"
        + (f"  (pass{data_flag} for this data)" if data_flag else ""),
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


async def serve(sock: socket.socket, data: Path, *, shutdown_timeout: float = 5.0) -> str | None:
    """Run everything on ``sock`` until SIGINT or SIGTERM (or a fatal failure), then stop
    cleanly; returns the fatal failure's reason, if that was what stopped it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _stopper(loop, stop))
    try:
        return await _serve(sock, data, stop, shutdown_timeout)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _serve(
    sock: socket.socket, data: Path, stop: asyncio.Event, shutdown_timeout: float
) -> str | None:
    host, port = sock.getsockname()[:2]
    base = f"http://{_url_host(host)}:{port}"
    admin, admin_new = admin_token(data)
    url = sqlite_url(data)
    bus = MemoryBus()
    engine = create_engine(url)
    try:
        welcome = await prepare(engine)
        await bus.start()
        wiring = dev_wiring(
            database_url=url,
            admin_token=admin,
            self_url=base,
            directory_key=reconcile_commands.directory_key(data),
            webhook_key=webhook_commands.webhook_key(data),
        )
        # One process: scim-api and sso-login read from the user-store in it, not over HTTP.
        app = compose(wiring, bus=bus, engine=engine, in_process=True)
        bus_events.add_routes(app, bus, Topics(wiring.topic_prefix), admin)
        # A consumer loop that ended on its own: stop, and exit non-zero (run() reads it).
        app[FATAL].handlers.append(lambda _reason: stop.set())
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout)
        try:
            await runner.setup()
            await web.SockSite(runner, sock).start()
            if not stop.is_set():
                print(banner(base, data, welcome, admin, admin_new), flush=True)
                await stop.wait()
            print("Stopping...", flush=True)
        finally:
            await runner.cleanup()
    finally:
        await bus.stop()
        await engine.dispose()  # the user-store disposes it too; twice is harmless
    print("Stopped.", flush=True)
    return app[FATAL].reason


def _stopper(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    def on_signal() -> None:
        stop.set()
        # A second Ctrl-C while stopping interrupts the shutdown itself.
        loop.remove_signal_handler(signal.SIGINT)

    return on_signal


def run(host: str, port: int, data: Path) -> int:
    """``roster dev``: 0 after a clean stop (SIGINT or SIGTERM), 130 when a second Ctrl-C
    cut the shutdown short, 70 when a consumer loop ended on its own (restart it)."""
    configure_logging(RosterSettings().log_level, json_lines=False)
    prepare_data_dir(data)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exclusive(data))
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise DevError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        stack.enter_context(contextlib.closing(sock))
        try:
            fatal = asyncio.run(serve(sock, data))
        except KeyboardInterrupt:
            return 130
    if fatal is not None:
        print(f"Stopped by a fatal failure: {fatal}", flush=True)
        return EXIT_FATAL
    return 0


@contextlib.contextmanager
def _exclusive(data: Path) -> Iterator[None]:
    """Hold ``DIR/dev.lock`` so that a second ``roster dev`` on the same data refuses to start.

    (The ``tenant`` commands do not take it: they are meant to run beside ``roster dev``.)
    """
    with (data / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DevError(f"another `roster dev` is already running on {data}") from None
        yield


class DevError(Exception):
    """``roster dev`` cannot start as asked."""
