"""sso-login over HTTP without I/O: metadata, routing, error pages, settings."""

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
SETTINGS = SsoLoginSettings(session_secret="x" * 32, public_url="https://roster.example.com")


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
    yield await aiohttp_client(create_app(SETTINGS, bus=bus, user_store=user_store))
    await bus.stop()


PATHS = [
    "/sso/acme/login",
    "/sso/acme/saml/login",
    "/sso/acme/saml/metadata",
    "/sso/acme/oidc/login",
    "/sso/acme/oidc/callback",
]


async def test_sp_metadata_is_served_before_any_idp_is_connected(client) -> None:
    response = await client.get("/sso/acme/saml/metadata")
    assert response.status == 200
    assert response.content_type == "application/samlmetadata+xml"
    xml = await response.text()
    assert 'entityID="https://roster.example.com/sso/acme/saml/metadata"' in xml
    assert 'Location="https://roster.example.com/sso/acme/saml/acs"' in xml


@pytest.mark.parametrize(
    "path", ["/sso/acme/login", "/sso/acme/saml/login", "/sso/acme/oidc/login"]
)
async def test_login_without_a_connection_says_so(client, path) -> None:
    response = await client.get(path, allow_redirects=False)
    assert response.status == 404
    page = await response.text()
    assert "not" in page and "Reference:" in page


@pytest.mark.parametrize("path", [p.replace("acme", "nobody") for p in PATHS])
async def test_unknown_tenant_is_404(client, path) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert "nobody" in await response.text()


async def test_acs_of_unknown_tenant_is_404(client) -> None:
    response = await client.post("/sso/nobody/saml/acs", data={"SAMLResponse": "x"})
    assert response.status == 404


async def test_no_session_is_401_and_logout_works_without_one(client) -> None:
    assert (await client.get("/sso/session")).status == 401
    assert (await client.get("/sso/logout")).status == 200


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
    assert 'roster_sso_login_responses_total{status="303"} 1.0' not in metrics
    assert 'roster_sso_login_responses_total{status="404"} 1.0' in metrics


def test_standalone_needs_kafka_and_a_session_secret() -> None:
    with pytest.raises(ValueError, match="ROSTER_KAFKA_BOOTSTRAP"):
        create_app(SsoLoginSettings(kafka_bootstrap=None))
    with pytest.raises(ValueError, match="ROSTER_SESSION_SECRET"):
        create_app(SsoLoginSettings(), bus=MemoryBus())
