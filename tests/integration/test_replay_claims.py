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

from tests.integration.harness import internal_api


@pytest.fixture(params=["sqlite", "postgres"])
async def client(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[UserStoreClient]:
    jit = ProvisioningMode.JIT
    async with internal_api(
        request.param,
        request,
        tmp_path,
        internal_token="i",
        with_tenants=[("acme", jit), ("globex", jit)],
    ) as app:
        server = TestServer(app)
        await server.start_server()
        user_store = UserStoreClient(str(server.make_url("")), token="i")
        await user_store.start()
        try:
            yield user_store
        finally:
            await user_store.close()
            await server.close()


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


async def test_concurrent_retakes_of_an_expired_claim_have_one_winner(
    client: UserStoreClient,
) -> None:
    """An expired claim may be taken again, by exactly one of concurrent claimers (on
    PostgreSQL the one statement's ``ON CONFLICT DO UPDATE ... WHERE`` expired: the row lock
    makes the others see the fresh expiry), and the value is then held."""
    assert await client.claim_once("acme", "old", utcnow() - timedelta(seconds=1))
    later = utcnow() + timedelta(minutes=5)
    results = await asyncio.gather(*(client.claim_once("acme", "old", later) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert not await client.claim_once("acme", "old", later)


async def test_unknown_tenant_and_bad_input(client: UserStoreClient) -> None:
    with pytest.raises(UserStoreClientError) as info:
        await client.claim_once("nobody", "x", utcnow())
    assert info.value.status == 404
    with pytest.raises(UserStoreClientError) as info:
        await client.claim_once("acme", "", utcnow())
    assert info.value.status == 400
