"""The scim-api skeleton over HTTP: bearer-token auth, SCIM errors, ServiceProviderConfig."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from scim_api.app import create_app
from scim_api.settings import ScimApiSettings

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
GOOD = "rst_aaaaaaaaaaaaaaaa_" + "s" * 43

ClientFactory = Callable[..., Awaitable[TestClient]]


class FakeUserStore(UserStoreClient):
    """Knows one tenant, ``acme``, with one token; can be told to fail."""

    def __init__(self) -> None:
        super().__init__("http://user-store.invalid")
        self.calls: list[tuple[str, str]] = []
        self.failure: Exception | None = None

    async def verify_token(self, ref: str, token: str) -> TenantInfo | None:
        self.calls.append((ref, token))
        if self.failure is not None:
            raise self.failure
        if ref == "acme" and token == GOOD:
            now = datetime.now(UTC)
            return TenantInfo(
                id="t-1", slug="acme", mode=ProvisioningMode.SCIM, created_at=now, updated_at=now
            )
        return None


@pytest.fixture
def user_store() -> FakeUserStore:
    return FakeUserStore()


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, user_store: FakeUserStore
) -> AsyncIterator[TestClient]:
    bus = MemoryBus()
    await bus.start()
    app = create_app(ScimApiSettings(), bus=bus, user_store=user_store)
    yield await aiohttp_client(app)
    await bus.stop()


async def _scim_error(response: ClientResponse, status: int) -> dict[str, str]:
    assert response.status == status
    assert response.content_type == "application/scim+json"
    body = await response.json(content_type=None)
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    return body


async def test_service_provider_config_with_a_good_token(client, user_store) -> None:
    response = await client.get(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    assert response.status == 200
    assert response.content_type == "application/scim+json"
    body = await response.json(content_type=None)
    assert body["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]
    for feature in ("patch", "bulk", "filter", "changePassword", "sort", "etag"):
        assert body[feature]["supported"] is False, feature
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    assert body["meta"]["resourceType"] == "ServiceProviderConfig"
    assert body["meta"]["location"].endswith("/scim/v2/acme/ServiceProviderConfig")
    assert user_store.calls == [("acme", GOOD)]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer wrong", f"Token {GOOD}"],
)
async def test_missing_or_wrong_token_is_a_scim_401(client, authorization) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = await client.get("/scim/v2/acme/ServiceProviderConfig", headers=headers)
    body = await _scim_error(response, 401)
    assert "bearer" in body["detail"].lower()
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_only_reaches_its_own_tenant(client, user_store) -> None:
    response = await client.get(
        "/scim/v2/other/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    await _scim_error(response, 401)
    assert user_store.calls == [("other", GOOD)]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/scim/v2/acme/Users"),
        ("POST", "/scim/v2/acme/Users"),
        ("PATCH", "/scim/v2/acme/Groups/123"),
        ("GET", "/scim/v2/acme/Schemas"),
        ("GET", "/scim/v2/acme/ResourceTypes"),
        ("GET", "/scim/v2/acme/"),
        ("GET", "/scim/v2/acme"),
    ],
)
async def test_other_endpoints_are_not_implemented_yet(client, method, path) -> None:
    response = await client.request(method, path, headers={"Authorization": f"Bearer {GOOD}"})
    body = await _scim_error(response, 501)
    assert "not implemented yet" in body["detail"]


async def test_unimplemented_endpoints_still_require_a_token(client, user_store) -> None:
    response = await client.get("/scim/v2/acme/Users")
    await _scim_error(response, 401)


async def test_service_provider_config_is_read_only(client) -> None:
    response = await client.post(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    await _scim_error(response, 405)
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/", "/scim/elsewhere"])
async def test_paths_without_a_tenant_are_scim_404s(client, path) -> None:
    await _scim_error(await client.get(path), 404)


async def test_user_store_failure_is_a_scim_503(client, user_store) -> None:
    user_store.failure = UserStoreClientError(500, "internal", "boom")
    response = await client.get(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    await _scim_error(response, 503)


async def test_health_ready_and_metrics(client) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready"}
    await client.get("/scim/v2/acme/Users")
    metrics = await (await client.get("/metrics")).text()
    assert 'roster_scim_api_responses_total{status="401"} 1.0' in metrics


def test_standalone_needs_kafka() -> None:
    with pytest.raises(ValueError, match="ROSTER_KAFKA_BOOTSTRAP"):
        create_app(ScimApiSettings(kafka_bootstrap=None))
