"""A user-store (consumer and HTTP internal API) on a given bus and database, a directory stand-in,
and reconciler instances wired to them: what the reconciler tests share."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestServer
from reconciler.credentials import Vault, new_key
from reconciler.directory import RetryPolicy
from reconciler.policy import DIRECTORY_SECTION, POLICY_SECTION, DirectoryConfig
from reconciler.runs import Reconciler
from reconciler.store import StateStore
from roster_cli import compose
from roster_shared.bus.base import Bus
from roster_shared.events.envelope import utcnow
from roster_shared.filters import ListQuery
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_shared.userstore_client import UserStoreClient
from roster_testing.directories import DirectoryStandIn, Person
from roster_testing.topics import topic_prefix
from user_store.db import create_engine

from tests.integration.harness import Collector, Stack, login

TOKEN = "directory-token"  # the stand-in's credential


@dataclass
class World:
    """The user-store (consumer + HTTP API) on Kafka and PostgreSQL, a directory stand-in, and
    a way to make reconciler instances."""

    stack: Stack
    url: str
    directory: DirectoryStandIn
    vault: Vault
    lifecycle: Collector
    clients: list[Any]

    async def tenant(self, mode: ProvisioningMode = ProvisioningMode.JIT) -> TenantInfo:
        return await self.stack.tenant(f"t-{uuid.uuid4().hex[:6]}", mode)

    async def connect(self, tenant: TenantInfo, kind: str, **policy: Any) -> None:
        store = await self.state_store()
        config = DirectoryConfig(
            kind=kind,  # type: ignore[arg-type]
            url=self.directory.base(kind),
            token=self.vault.encrypt(TOKEN),
        )
        await store.put_settings(tenant.id, DIRECTORY_SECTION, config.model_dump())
        await store.put_settings(tenant.id, POLICY_SECTION, policy)

    async def state_store(self) -> StateStore:
        store = StateStore(self.url)
        await store.start()
        self.clients.append(store)
        return store

    async def reconciler(self, clock: Callable[[], datetime] = utcnow, **kwargs: Any) -> Reconciler:
        users = UserStoreClient(self.url)
        await users.start()
        self.clients.append(users)
        return Reconciler(
            users,
            await self.state_store(),
            self.stack.bus,
            vault=self.vault,
            topics=self.stack.topics,
            clock=clock,
            retry=RetryPolicy(attempts=3, base_delay=0.01),
            page_size=kwargs.pop("page_size", 4),  # several pages of users in every test
            **kwargs,
        )

    async def people(self, tenant: TenantInfo, count: int) -> list[str]:
        """``count`` JIT users (logins) named user{i}@example.com; returns their ids."""
        ids = []
        for i in range(count):
            event = login(tenant, f"sub-{i}", f"user{i}@example.com")
            reply = await self.stack.send(event)
            assert reply.ok, reply.error
            assert reply.user is not None
            ids.append(reply.user.id)
        return ids

    async def active(self, tenant: TenantInfo) -> dict[str, bool]:
        users = UserStoreClient(self.url)
        await users.start()
        try:
            page = await users.users(tenant.id, ListQuery(count=1000))
            return {u.user_name: u.active for u in page.items}
        finally:
            await users.close()


def directory_people(count: int) -> list[Person]:
    return [Person(f"dir-{i}", f"user{i}@example.com") for i in range(count)]


@contextlib.asynccontextmanager
async def running_world(bus: Bus, database_url: str) -> AsyncIterator[World]:
    """Everything started on ``bus`` and the database at ``database_url``; stopped after."""
    stack = Stack(bus, create_engine(database_url), Topics(prefix=topic_prefix("t")))
    await stack.start()
    # The internal API alone (no internal credential): the stack's user-store consumes.
    api = compose.user_store(
        compose.Wiring(database_url=database_url, self_url="", admin_token="admin"),
        bus=bus,
        engine=create_engine(database_url),
        consume=False,
    )
    server = TestServer(api, host="127.0.0.1")
    await server.start_server()
    directory = DirectoryStandIn(directory_people(10), token=TOKEN, page_size=4)
    clients: list[Any] = []
    try:
        async with directory.running():
            lifecycle = await stack.collect(stack.topics.lifecycle)
            yield World(
                stack,
                str(server.make_url("")).rstrip("/"),
                directory,
                Vault(new_key()),
                lifecycle,
                clients,
            )
    finally:
        for client in clients:
            await client.close()
        await server.close()
        await stack.stop()


def deactivated(world: World, tenant: TenantInfo) -> list[dict[str, Any]]:
    return [e for e in world.lifecycle.events("user.deactivated") if e["tenant_id"] == tenant.id]
