"""Single-use claims (SAML assertion ids, OIDC states) through the user-store's internal API,
on SQLite and PostgreSQL: the first claim wins, concurrent claims have exactly one winner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from roster_shared.events.envelope import utcnow
from roster_shared.tenants import ProvisioningMode
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from user_store import tenants
from user_store.app import create_app
from user_store.db import create_engine, migrate, session_factory
from user_store.settings import UserStoreSettings

from tests.integration.harness import memory_bus


@pytest.fixture(params=["sqlite", "postgres"])
async def client(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[UserStoreClient]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    else:
        url = request.getfixturevalue("fresh_database_url")
    engine = create_engine(url)
    await migrate(engine)
    async with session_factory(engine)() as session, session.begin():
        await tenants.create_tenant(session, "acme", ProvisioningMode.JIT)
        await tenants.create_tenant(session, "globex", ProvisioningMode.JIT)
    bus = memory_bus()
    await bus.start()
    app = create_app(
        UserStoreSettings(admin_token="a", internal_token="i", database_url=url),
        bus=bus,
        engine=engine,
        consume=False,
    )
    server = TestServer(app)
    await server.start_server()
    user_store = UserStoreClient(str(server.make_url("")), token="i")
    await user_store.start()
    yield user_store
    await user_store.close()
    await server.close()
    await bus.stop()


async def test_first_claim_wins_per_tenant(client: UserStoreClient) -> None:
    later = utcnow() + timedelta(minutes=5)
    assert await client.claim_once("acme", "saml:_abc", later)
    assert not await client.claim_once("acme", "saml:_abc", later)
    assert await client.claim_once("globex", "saml:_abc", later)  # another tenant's cache


async def test_expired_claim_may_be_taken_again(client: UserStoreClient) -> None:
    assert await client.claim_once("acme", "x", utcnow() - timedelta(seconds=1))
    assert await client.claim_once("acme", "x", utcnow() + timedelta(minutes=1))
    assert not await client.claim_once("acme", "x", utcnow() + timedelta(minutes=1))


async def test_concurrent_claims_have_one_winner(client: UserStoreClient) -> None:
    later = utcnow() + timedelta(minutes=5)
    results = await asyncio.gather(*(client.claim_once("acme", "same", later) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_unknown_tenant_and_bad_input(client: UserStoreClient) -> None:
    with pytest.raises(UserStoreClientError) as info:
        await client.claim_once("nobody", "x", utcnow())
    assert info.value.status == 404
    with pytest.raises(UserStoreClientError) as info:
        await client.claim_once("acme", "", utcnow())
    assert info.value.status == 400
