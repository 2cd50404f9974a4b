"""The sso-login skeleton over HTTP: every SSO path is routed, 501 for a known tenant, 404 else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from sso_login.app import create_app
from sso_login.settings import SsoLoginSettings

ClientFactory = Callable[..., Awaitable[TestClient]]


class FakeUserStore(UserStoreClient):
    """Knows one tenant, ``acme``; can be told to fail."""

    def __init__(self) -> None:
        super().__init__("http://user-store.invalid")
        self.failure: Exception | None = None

    async def tenant(self, ref: str) -> TenantInfo:
        if self.failure is not None:
            raise self.failure
        if ref != "acme":
            raise UserStoreClientError(404, "unknown_tenant", f"no tenant {ref!r}")
        now = datetime.now(UTC)
        return TenantInfo(
            id="t-1", slug="acme", mode=ProvisioningMode.JIT, created_at=now, updated_at=now
        )


@pytest.fixture
def user_store() -> FakeUserStore:
    return FakeUserStore()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, user_store: FakeUserStore
) -> AsyncIterator[TestClient]:
    bus = MemoryBus()
    await bus.start()
    yield await aiohttp_client(create_app(SsoLoginSettings(), bus=bus, user_store=user_store))
    await bus.stop()


PATHS = [
    "/sso/acme/login",
    "/sso/acme/saml/login",
    "/sso/acme/saml/metadata",
    "/sso/acme/saml/acs",
    "/sso/acme/oidc/login",
    "/sso/acme/oidc/callback",
]


@pytest.mark.parametrize("path", PATHS)
async def test_sso_paths_of_a_known_tenant_are_not_implemented_yet(client, path) -> None:
    response = await client.get(path)
    assert response.status == 501
    assert response.content_type == "text/html"
    page = await response.text()
    assert "not implemented yet" in page
    assert "Reference:" in page


@pytest.mark.parametrize("path", [p.replace("acme", "nobody") for p in PATHS])
async def test_unknown_tenant_is_404(client, path) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "nobody" in await response.text()


async def test_logout_is_not_implemented_yet(client) -> None:
    assert (await client.get("/sso/logout")).status == 501


async def test_user_store_failure_is_503_without_details(client, user_store) -> None:
    user_store.failure = UserStoreClientError(500, "internal", "secret detail")
    response = await client.get("/sso/acme/login")
    assert response.status == 503
    assert "secret detail" not in await response.text()


async def test_unexpected_error_is_500_with_reference(client, user_store) -> None:
    user_store.failure = RuntimeError("kaboom")
    response = await client.get("/sso/acme/login")
    assert response.status == 500
    page = await response.text()
    assert "kaboom" not in page
    assert "Reference:" in page


async def test_health_ready_and_metrics(client) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    await client.get("/sso/acme/login")
    metrics = await (await client.get("/metrics")).text()
    assert 'roster_sso_login_responses_total{status="501"} 1.0' in metrics


def test_standalone_needs_kafka() -> None:
    with pytest.raises(ValueError, match="ROSTER_KAFKA_BOOTSTRAP"):
        create_app(SsoLoginSettings(kafka_bootstrap=None))
