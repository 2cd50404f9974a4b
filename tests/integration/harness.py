"""A user-store on a real bus and database for integration tests, plus helpers to drive it.

The same harness runs on Kafka + PostgreSQL (production) and on the in-process bus + SQLite
(embedded), so one suite of tests checks both (STYLE.md: contract suites by subclassing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from roster_cli import compose
from roster_shared.bus.base import Bus, Message, Record, Subscription
from roster_shared.bus.ingest import IngestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.events import ingest
from roster_shared.events.envelope import EnvelopeBase, Source, utcnow
from roster_shared.events.replies import Reply
from roster_shared.tenants import ProvisioningMode, TenantInfo, TenantPolicy
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.routes import errors_middleware
from user_store.service import UserStoreService


class Collector:
    """Everything a consumer group reads from some topics, for assertions."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    async def __call__(self, messages: Sequence[Message]) -> None:
        self.messages.extend(messages)
        self._changed.set()

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Decoded JSON values, optionally of one ``type``."""
        out = [json.loads(m.value) for m in self.messages if m.value is not None]
        return [e for e in out if type_ is None or e.get("type") == type_]

    async def wait_for(self, predicate: Callable[[Collector], bool], timeout: float = 20) -> None:
        """Wait until ``predicate(self)`` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out; have {len(self.messages)} messages: "
                    f"{[m.value[:120] if m.value else None for m in self.messages]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))


class Stack:
    """A running user-store with a requester, on the given bus and database."""

    def __init__(
        self, bus: Bus, engine: AsyncEngine, topics: Topics, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.bus = bus
        self.engine = engine
        self.topics = topics
        self.clock = clock
        self.sessions = session_factory(engine)
        self.requester = Requester(bus, topic=topics.replies)
        self.services: list[UserStoreService] = []
        self._subscriptions: list[Subscription] = []

    def new_service(self, **kwargs: Any) -> UserStoreService:
        """A user-store instance (not started) on this stack's bus and database."""
        service = UserStoreService(
            self.engine,
            self.bus,
            topics=self.topics,
            clock=self.clock,
            relay_interval=0.2,
            **kwargs,
        )
        self.services.append(service)
        return service

    async def start(self) -> None:
        await self.bus.start()
        await self.bus.ensure_topics(self.topics.specs(4))
        await migrate(self.engine)
        await self.new_service().start()
        await self.requester.start()

    async def stop(self) -> None:
        await self.requester.stop()
        for subscription in self._subscriptions:
            await subscription.stop()
        for service in self.services:
            await service.stop()
        await self.bus.stop()
        await self.engine.dispose()

    async def collect(self, topic: str, group: str | None = None) -> Collector:
        """A separate consumer group reading ``topic`` from the beginning."""
        collector = Collector()
        subscription = self.bus.subscribe(
            group or f"test-{uuid.uuid4().hex[:8]}", [topic], collector
        )
        await subscription.start()
        self._subscriptions.append(subscription)
        return collector

    async def tenant(
        self,
        slug: str = "acme",
        mode: ProvisioningMode = ProvisioningMode.SCIM_JIT,
        policy: TenantPolicy | None = None,
    ) -> TenantInfo:
        async with self.sessions() as session, session.begin():
            return await tenants.create_tenant(session, slug, mode, policy=policy)

    async def send(self, event: EnvelopeBase, timeout: float = 30) -> Reply:
        """Publish an ingestion event and wait for the user-store's reply, as the services do."""
        return await IngestClient(self.requester, self.topics.ingest, timeout).submit(event)

    async def marker(self, tenant: TenantInfo, lifecycle: Collector) -> str:
        """Apply one more event of ``tenant`` (a new user) and wait until ``lifecycle`` has its
        ``user.created``; returns the new user's id.

        The user-store applies a tenant's events in order, and the lifecycle events they cause are
        keyed by tenant and published in commit order: once the marker's ``user.created`` is
        collected, whatever the tenant's earlier events published has been collected too. A test
        that asserts something was *not* published asserts after this, not after a sleep.
        """
        name = f"marker-{uuid.uuid4().hex[:8]}@example.com"
        if tenant.mode is ProvisioningMode.SCIM:
            event = scim_user(tenant, name, name)
        else:  # a login creates a user in jit and scim+jit modes (a SCIM create, not in jit)
            event = login(tenant, name, name)
        reply = await self.send(event)
        assert reply.ok and reply.user is not None, reply.error
        user_id = reply.user.id
        await lifecycle.wait_for(
            lambda c: any(e["data"]["user"]["id"] == user_id for e in c.events("user.created"))
        )
        return user_id

    async def send_raw(self, key: str, value: bytes) -> None:
        await self.bus.send(Record(topic=self.topics.ingest, key=key, value=value))


def scim_user(
    tenant: TenantInfo, user_name: str, external_id: str | None = None, **attributes: Any
) -> ingest.UserUpserted:
    """A SCIM POST (or PUT, with ``target_id``) as scim-api would publish it."""
    target_id = attributes.pop("target_id", None)
    expected_version = attributes.pop("expected_version", None)
    return ingest.UserUpserted(
        tenant_id=tenant.id,
        source=Source.SCIM,
        data=ingest.UserUpsertedData(
            attributes={"user_name": user_name, "external_id": external_id, **attributes},
            target_id=target_id,
            expected_version=expected_version,
        ),
    )


def login(
    tenant: TenantInfo,
    subject: str,
    user_name: str,
    *,
    issuer: str = "https://idp.example.com",
    groups: Sequence[str] | None = None,
    verified: str | Sequence[dict[str, Any]] | None = None,
    **attributes: Any,
) -> ingest.UserUpserted:
    """A JIT login as sso-login would publish it.

    ``verified``: the link keys sso-login vouches for — an e-mail address the IdP verified
    (an OIDC ``email`` with ``email_verified``), or the keys themselves. None: no verified key,
    so the login may only find its account by its link or create one.
    """
    if isinstance(verified, str):
        keys: Sequence[dict[str, Any]] = [
            {"value": verified, "verified_email": True, "basis": "oidc:email_verified"}
        ]
    else:
        keys = verified or ()
    return ingest.UserUpserted(
        tenant_id=tenant.id,
        source=Source.JIT,
        data=ingest.UserUpsertedData(
            attributes={"user_name": user_name, **attributes},
            identity_link={"issuer": issuer, "subject": subject},
            link_keys=tuple(keys),
            groups=tuple(groups) if groups is not None else None,
            login_at=utcnow(),
        ),
    )


@contextlib.asynccontextmanager
async def pairing_stack(
    bus_kind: str, db_kind: str, request: Any, tmp_path: Path
) -> AsyncIterator[Stack]:
    """A started :class:`Stack` on ``bus_kind`` ("memory" | "kafka") and ``db_kind``
    ("sqlite" | "postgres"), stopped on exit: what the contract suites subclass over."""
    engine = create_engine(database_url(db_kind, request, tmp_path))
    bus: Bus
    if bus_kind == "kafka":
        from roster_shared.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="test-user-store")
    else:
        bus = memory_bus()
    stack = Stack(bus, engine, Topics(prefix=topic_prefix("t")))
    try:
        await stack.start()
        yield stack
    finally:
        await stack.stop()


class PairingSuite:
    """A contract suite over one pairing of bus and database: a subclass per pairing sets
    ``bus_kind`` ("memory" | "kafka") and ``db_kind`` ("sqlite" | "postgres"), and each test
    gets a started :class:`Stack` on them as ``stack`` (STYLE.md: contract suites by
    subclassing)."""

    bus_kind: ClassVar[str]
    db_kind: ClassVar[str]

    @pytest.fixture
    async def stack(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
        async with pairing_stack(self.bus_kind, self.db_kind, request, tmp_path) as stack:
            yield stack


@contextlib.asynccontextmanager
async def routes_client(
    routes: web.RouteTableDef, keys: Mapping[web.AppKey[Any], Any]
) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of one group of the user-store's routes, served as the user-store serves them
    (its error middleware included) with the app keys they read (``keys``): for a test of
    those routes alone, on a :class:`Stack`'s database."""
    app = web.Application(middlewares=[errors_middleware])
    for key, value in keys.items():
        app[key] = value
    app.add_routes(routes)
    async with TestClient(TestServer(app)) as client:
        yield client


@contextlib.asynccontextmanager
async def internal_api(
    db_kind: str,
    request: Any,
    tmp_path: Path,
    *,
    internal_token: str | None = None,
    with_tenants: Sequence[tuple[str, ProvisioningMode]] = (),
) -> AsyncIterator[web.Application]:
    """The user-store's application serving its internal and admin APIs (admin token
    ``admin``) and nothing else: a fresh, migrated database of ``db_kind`` with the tenants
    ``with_tenants`` (slug, mode), no consumer, and an in-process bus nobody reads. Composed as
    ``roster dev`` composes the user-store; the caller serves it (and so closes it)."""
    url = database_url(db_kind, request, tmp_path)
    engine = create_engine(url)
    await migrate(engine)
    async with session_factory(engine)() as session, session.begin():
        for slug, mode in with_tenants:
            await tenants.create_tenant(session, slug, mode)
    bus = memory_bus()
    await bus.start()
    wiring = compose.Wiring(
        database_url=url, self_url="", admin_token="admin", internal_token=internal_token
    )
    try:
        yield compose.user_store(wiring, bus=bus, engine=engine, consume=False)
    finally:
        await bus.stop()


def database_url(db_kind: str, request: Any, tmp_path: Path) -> str:
    """A new, empty database: on the test PostgreSQL for ``postgres`` / ``postgresql``,
    else a SQLite file in ``tmp_path``."""
    if db_kind in ("postgres", "postgresql"):
        return str(request.getfixturevalue("fresh_database_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"


def memory_bus() -> MemoryBus:
    return MemoryBus(retry_backoff=0.05)
