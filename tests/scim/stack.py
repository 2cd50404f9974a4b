"""The user-store and the scim-api served over HTTP on one port, on a real bus and database.

Composed by :mod:`roster_cli.compose`, as ``roster dev`` is (the user-store's application as the
root, the SCIM application mounted under ``/scim``); here the bus, the database and the topic
prefix are chosen by the test: the in-process bus with SQLite for the protocol tests, Kafka with
PostgreSQL for the interop and conformance tests.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg  # type: ignore[import-untyped]
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_cli import compose
from roster_shared.bus.base import Bus
from roster_shared.bus.ingest import IngestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.events.envelope import EnvelopeBase
from roster_shared.events.replies import Reply
from roster_shared.service import standalone_root
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from scim_api.reader import reader_dsn
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import reader_role as reader_roles
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Tenant:
    """A tenant with one SCIM token, and an HTTP session that sends it."""

    info: TenantInfo
    token: str
    base: str  # .../scim/v2/<slug>
    http: aiohttp.ClientSession

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
        """``(status, JSON body or None, headers)`` of one request under the tenant's base."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else self.base + path
        async with self.http.request(method, url, headers=headers, **kwargs) as response:
            raw = await response.read()
            body = None
            if raw:
                assert response.content_type == "application/scim+json", raw[:200]
                body = await response.json(content_type=None)
            return response.status, body, response.headers


class ScimStack:
    """A running user-store + scim-api pair."""

    root: web.Application
    """The composed application (the user-store's, the others mounted on it)."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        http: aiohttp.ClientSession,
        bus: Bus,
        topics: Topics,
        *,
        database_url: str,
        admin_token: str,
        internal_token: str,
        wiring: compose.Wiring,
    ) -> None:
        self.engine = engine
        self.url = url
        self.http = http
        self.bus = bus
        self.topics = topics
        self.database_url = database_url
        self.admin_token = admin_token
        self.internal_token = internal_token
        self.wiring = wiring
        self.sessions = session_factory(engine)
        self.scim_api: web.Application | None = None
        """The composed scim-api application (set by :func:`scim_stack`)."""

    async def login(self, event: EnvelopeBase) -> Reply:
        """Submit an ingestion event as sso-login would, and wait for the reply."""
        requester = Requester(self.bus, topic=self.topics.replies)
        await requester.start()
        try:
            return await IngestClient(requester, self.topics.ingest, timeout=30).submit(event)
        finally:
            await requester.stop()

    @asynccontextmanager
    async def another_instance(self) -> AsyncIterator[str]:
        """A second scim-api on its own port, on the same user-store and bus: what a second
        instance behind a load balancer is. Composed from this stack's wiring (its own public
        URL), standalone as ``python -m scim_api`` serves it; yields its base URL."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        wiring = dataclasses.replace(self.wiring, public_url=url)
        api = compose.service_api(compose.SCIM_API, wiring, bus=self.bus)
        server = TestServer(
            standalone_root(api, compose.prefix(compose.SCIM_API)), host="127.0.0.1", port=port
        )
        await server.start_server()
        try:
            yield url
        finally:
            await server.close()

    async def tenant(
        self, slug: str | None = None, mode: ProvisioningMode = ProvisioningMode.SCIM_JIT
    ) -> Tenant:
        slug = slug or f"t{uuid.uuid4().hex[:8]}"
        async with self.sessions() as session, session.begin():
            info = await tenants.create_tenant(session, slug, mode)
            issued = await tenants.issue_token(session, info.id, label="test")
        return Tenant(info, issued.token, f"{self.url}/scim/v2/{slug}", self.http)


@asynccontextmanager
async def scim_stack(
    bus: Bus,
    database_url: str,
    *,
    topic_prefix: str = "",
    request_timeout: float | None = 30,
    scim_settings: dict[str, Any] | None = None,
    also: dict[str, dict[str, Any]] | None = None,
    kind: type[ScimStack] = ScimStack,
    in_process: bool | None = None,
) -> AsyncIterator[ScimStack]:
    """Start the pair; the bus is started and stopped here. ``also`` adds services (name ->
    settings) to the same root, ``kind`` is the handle yielded (a subclass that knows them);
    ``request_timeout=None`` leaves the scim-api's own default. ``in_process``: the services
    read from the user-store in process (``roster_cli.inprocess``) rather than over HTTP; by
    default on SQLite, as ``roster dev`` does, and over HTTP on PostgreSQL, as production does."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    internal = secrets.token_urlsafe(16)
    admin = secrets.token_urlsafe(16)
    engine = create_engine(database_url)
    await bus.start()
    wiring = compose.Wiring(
        database_url=database_url,
        self_url=url,
        admin_token=admin,
        internal_token=internal,
        topic_prefix=topic_prefix,
        overrides={
            "user-store": {"topic_partitions": 2},
            compose.SCIM_API: {
                **({"request_timeout": request_timeout} if request_timeout is not None else {}),
                **(scim_settings or {}),
            },
            **(also or {}),
        },
    )
    if in_process is None:
        in_process = database_url.startswith("sqlite")
    root = compose.compose(
        wiring,
        bus=bus,
        engine=engine,
        services=[compose.SCIM_API, *(also or {})],
        in_process=in_process,
    )
    server = TestServer(root, host="127.0.0.1", port=port)
    try:
        await server.start_server()
        async with aiohttp.ClientSession() as http:
            running = kind(
                engine,
                url,
                http,
                bus,
                Topics(topic_prefix),
                database_url=database_url,
                admin_token=admin,
                internal_token=internal,
                wiring=wiring,
            )
            running.root = root
            running.scim_api = next(p.api for p in root[compose.PROBES] if p.name == "scim-api")
            yield running
    finally:
        await server.close()
        await bus.stop()


def memory_database(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"


PAIRINGS = ["memory-sqlite", "kafka-postgres"]
"""The two pairings every stack fixture runs on: embedded, and the production path."""
READER = "kafka-postgres-reader"
"""The production path with the scim-api reading PostgreSQL as the reader role
(``ROSTER_READER_DATABASE_URL``, scim_api.reader): the modules that opt in run on it too."""


def pairing(request: Any, tmp_path: Any, client_id: str) -> tuple[Bus, str]:
    """The bus and database URL of the pairing ``request.param`` names (one of ``PAIRINGS``):
    the session's Kafka broker and a fresh PostgreSQL database, or an in-process bus and a
    SQLite file under ``tmp_path``."""
    if request.param in ("kafka-postgres", READER):
        from roster_shared.bus.kafka import KafkaBus

        kafka = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id=client_id)
        return kafka, request.getfixturevalue("fresh_database_url")
    return MemoryBus(retry_backoff=0.05), memory_database(tmp_path)


def engine_for(url: str) -> AsyncEngine:
    return create_engine(url)


@asynccontextmanager
async def reader_role(database_url: str) -> AsyncIterator[str]:
    """A login role of its own (roles are the cluster's, so the name is random) that may call
    the reader functions of the database and nothing else, made as ``roster db reader-role
    --apply`` makes it; yields its database URL. The database is migrated first (the functions
    must exist to be granted). Dropped at the end, with its grants."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
    role, password = f"reader_{uuid.uuid4().hex[:12]}", secrets.token_urlsafe(16)
    admin = await asyncpg.connect(reader_dsn(database_url))
    try:
        await reader_roles.apply(admin, role, password=password)
        parts = urlsplit(reader_dsn(database_url))
        host = parts.netloc.rpartition("@")[2]
        yield urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}"))
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


@asynccontextmanager
async def stack_settings(request: Any, database_url: str) -> AsyncIterator[dict[str, Any]]:
    """The scim-api settings of the pairing ``request.param``: the reader URL for
    :data:`READER`, nothing otherwise."""
    if request.param != READER:
        yield {}
        return
    async with reader_role(database_url) as url:
        yield {"reader_database_url": url}
