"""Roster for the browser tests, two ways:

- :func:`separate_stack` — production's shape on Kafka and PostgreSQL: the user-store on its own
  server; scim-api, sso-login and the reconciler on another (the public one); the console as a
  third application with its own settings, reaching them over HTTP as ``roster serve console``
  does.
- :func:`dev_stack` — ``roster dev`` itself, the console script in a subprocess (SQLite and the
  in-process bus), the console mounted at ``/console`` and ``/setup`` on its one port.

Each exposes the URLs, the admin credential, and ``expire(link_id)``: a setup link that has run
out (the test moves its expiry into the past in the database, as time would).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from console import app as console_app
from console.settings import ConsoleSettings
from roster_cli import compose
from roster_shared.bus.base import Bus
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from user_store.db import create_engine, migrate

from tests.cli.devserver import DevServer, free_port

ADMIN = "console-admin-credential"
INTERNAL = "console-internal-credential"
SECRET = "console-session-secret-" + "x" * 16


@dataclass
class Stack:
    """A running Roster as the browser sees it."""

    console: str
    """Where ``/console`` and ``/setup`` answer."""
    public: str
    """Where ``/scim`` and ``/sso`` answer (what IdPs are given)."""
    admin: str
    expire: Callable[[str], None]
    kind: str


@contextlib.asynccontextmanager
async def separate_stack(bus: Bus, database_url: str) -> AsyncIterator[Stack]:
    engine = create_engine(database_url)
    topics = Topics(topic_prefix("console"))
    await bus.start()
    await bus.ensure_topics(topics.specs(2))
    await migrate(engine)
    public_port = free_port()
    public = f"http://127.0.0.1:{public_port}"
    wiring = compose.Wiring(
        database_url=database_url,
        self_url="",
        public_url=public,
        admin_token=ADMIN,
        internal_token=INTERNAL,
        topic_prefix=topics.prefix,
        session_secret=SECRET,
        overrides={
            "user-store": {"consumer_group": f"us-{uuid.uuid4().hex[:8]}"},
            compose.RECONCILER: {"schedule": False},
            compose.WEBHOOKS: {"allow_loopback": True},  # the test's receiver is local
        },
    )
    servers: list[TestServer] = []
    loop = asyncio.get_running_loop()
    try:
        store = TestServer(compose.user_store(wiring, bus=bus, engine=engine))
        await store.start_server()
        servers.append(store)
        wiring = dataclasses.replace(wiring, self_url=str(store.make_url("")).rstrip("/"))
        root = web.Application()
        for name in (compose.SCIM_API, compose.SSO_LOGIN, compose.RECONCILER, compose.WEBHOOKS):
            root.add_subapp(compose.prefix(name), compose.service_api(name, wiring, bus=bus))
        services = TestServer(root, port=public_port)
        await services.start_server()
        servers.append(services)
        settings = ConsoleSettings(
            user_store_url=wiring.self_url,
            sso_login_url=public,
            reconciler_url=public,
            webhooks_url=public,
            public_url=public,
            admin_token=ADMIN,
            internal_token=INTERNAL,
            session_secret=SECRET,
        )
        console_port = free_port()
        settings = settings.model_copy(update={"console_url": f"http://127.0.0.1:{console_port}"})
        console = TestServer(console_app.create_app(settings), port=console_port)
        await console.start_server()
        servers.append(console)

        async def expire_async(link_id: str) -> None:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text("UPDATE setup_links SET expires_at = :t WHERE id = :i"),
                    {"t": datetime.now(UTC) - timedelta(minutes=1), "i": link_id},
                )

        def expire(link_id: str) -> None:  # called from the browser's thread
            asyncio.run_coroutine_threadsafe(expire_async(link_id), loop).result(30)

        yield Stack(settings.console_base(), public, ADMIN, expire, "kafka-postgres")
    finally:
        for server in reversed(servers):
            await server.close()
        await bus.stop()
        await engine.dispose()


@contextlib.contextmanager
def dev_stack(tmp: Path) -> Iterator[Stack]:
    server = DevServer(data=tmp / "data", port=free_port(), logs=tmp)
    server.start(timeout=120)
    database = tmp / "data" / "roster.db"

    def expire(link_id: str) -> None:
        with contextlib.closing(sqlite3.connect(database)) as db, db:
            past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
            db.execute("UPDATE setup_links SET expires_at = ? WHERE id = ?", (past, link_id))

    try:
        admin = (tmp / "data" / "admin-token").read_text().strip()
        yield Stack(server.base, server.base, admin, expire, "roster-dev")
    finally:
        server.stop()


KINDS = ["kafka-postgres", "roster-dev"]
"""The two ways, as the browser tests' ``stack`` fixtures are parametrised."""


@contextlib.asynccontextmanager
async def stack_of(kind: str, request: Any, tmp_path: Path, client_id: str) -> AsyncIterator[Stack]:
    """The stack of ``kind`` (one of :data:`KINDS`): :func:`separate_stack` on the session's
    Kafka and a fresh PostgreSQL database, or :func:`dev_stack` in ``tmp_path``."""
    if kind == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("fresh_database_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id=client_id)
        async with separate_stack(bus, url) as opened:
            yield opened
    else:
        with dev_stack(tmp_path) as opened:
            yield opened
