"""Tenant slugs from ``/sso/{tenant}/...`` are checked for their form before any lookup: a path
trick is the unknown-organisation page (logged as a malformed slug), and reaches nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from sso_login.app import create_app
from sso_login.settings import SsoLoginSettings
from yarl import URL

ClientFactory = Callable[..., Awaitable[TestClient]]
SETTINGS = SsoLoginSettings(
    session_secret="x" * 32, public_url="https://roster.example.com", admin_token="adm"
)


class CountingStore(UserStoreClient):
    """Knows no tenant; records every lookup it is asked for."""

    def __init__(self) -> None:
        super().__init__("http://user-store.invalid")
        self.asked: list[str] = []

    async def tenant(self, ref: str) -> TenantInfo:
        self.asked.append(ref)
        raise UserStoreClientError(404, "unknown_tenant", "no tenant")


@pytest.fixture
def store() -> CountingStore:
    return CountingStore()


@pytest.fixture
async def client(aiohttp_client: ClientFactory, store: CountingStore) -> AsyncIterator[TestClient]:
    bus = MemoryBus()
    await bus.start()
    yield await aiohttp_client(create_app(SETTINGS, bus=bus, user_store=store))
    await bus.stop()


async def _get(client: TestClient, path: str, **kw: Any) -> Any:
    url = URL(str(client.make_url("")).rstrip("/") + path, encoded=True)
    return await client.session.request(kw.pop("method", "GET"), url, **kw)


@pytest.mark.parametrize("segment", ["..%2Facme", "%2E%2E", "ACME", "acme%00", "acme%2F..%2Fx"])
@pytest.mark.parametrize("tail", ["login", "saml/metadata", "saml/login", "oidc/login"])
async def test_a_tenant_segment_that_is_no_slug_is_refused_before_any_lookup(
    client: TestClient,
    store: CountingStore,
    caplog: pytest.LogCaptureFixture,
    segment: str,
    tail: str,
) -> None:
    with caplog.at_level(logging.INFO, logger="sso_login.errors"):
        response = await _get(client, f"/sso/{segment}/{tail}", allow_redirects=False)
    assert response.status == 404
    assert "There is no organisation of that name." in await response.text()
    assert [r.reason for r in caplog.records if hasattr(r, "reason")] == ["malformed slug"]
    assert store.asked == []


async def test_the_admin_api_refuses_a_malformed_tenant_before_any_lookup(
    client: TestClient, store: CountingStore
) -> None:
    response = await _get(
        client, "/sso/admin/tenants/..%2Facme/connections", headers={"Authorization": "Bearer adm"}
    )
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_tenant"
    assert store.asked == []
