"""The scim-api skeleton over HTTP: bearer-token auth, SCIM errors, ServiceProviderConfig."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aiohttp
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
    for feature in ("patch", "filter", "sort", "etag", "bulk"):
        assert body[feature]["supported"] is True, feature
    assert body["bulk"]["maxOperations"] == 1000
    assert body["bulk"]["maxPayloadSize"] == 1_048_576
    assert body["filter"]["maxResults"] == 500
    for feature in ("changePassword",):
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
    ("method", "path", "status"),
    [
        ("GET", "/scim/v2/acme/Me", 501),
        ("PATCH", "/scim/v2/acme/Me", 501),
        ("GET", "/scim/v2/acme/", 404),
        ("GET", "/scim/v2/acme", 404),
        ("GET", "/scim/v2/acme/Elsewhere", 404),
        ("PATCH", "/scim/v2/acme/Users", 405),
        ("DELETE", "/scim/v2/acme/Schemas", 405),
        ("PUT", "/scim/v2/acme/ResourceTypes/User", 405),
    ],
)
async def test_other_paths_are_scim_errors(client, method, path, status) -> None:
    response = await client.request(method, path, headers={"Authorization": f"Bearer {GOOD}"})
    await _scim_error(response, status)


async def test_every_endpoint_requires_a_token(client, user_store) -> None:
    for path in ("/Users", "/Groups/1", "/Schemas", "/ResourceTypes", "/Me", "/Bulk"):
        response = await client.get("/scim/v2/acme" + path)
        await _scim_error(response, 401)
    assert user_store.calls == []


async def test_schemas_and_resource_types(client) -> None:
    headers = {"Authorization": f"Bearer {GOOD}"}
    body = await (await client.get("/scim/v2/acme/Schemas", headers=headers)).json(
        content_type=None
    )
    ids = {r["id"] for r in body["Resources"]}
    assert ids == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    }
    one = await client.get(
        "/scim/v2/acme/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", headers=headers
    )
    assert one.status == 200
    user = await one.json(content_type=None)
    assert user["meta"]["location"].endswith("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
    emails = next(a for a in user["attributes"] if a["name"] == "emails")
    assert "display" not in {s["name"] for s in emails["subAttributes"]}
    types = await (await client.get("/scim/v2/acme/ResourceTypes", headers=headers)).json(
        content_type=None
    )
    assert {r["endpoint"] for r in types["Resources"]} == {"/Users", "/Groups"}
    await _scim_error(await client.get("/scim/v2/acme/Schemas/nope", headers=headers), 404)


async def test_service_provider_config_is_read_only(client) -> None:
    response = await client.post(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    await _scim_error(response, 405)
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/scim/v2", "/scim/v2/", "/scim/elsewhere"])
async def test_paths_without_a_tenant_are_scim_404s(client, path) -> None:
    await _scim_error(await client.get(path), 404)


async def test_a_user_store_500_is_a_scim_500_and_no_answer_a_503(client, user_store) -> None:
    # A 503 tells the IdP to retry; only a user-store that did not answer means that.
    user_store.failure = UserStoreClientError(500, "internal", "boom")
    response = await client.get(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    body = await _scim_error(response, 500)
    assert "reference" in body["detail"] and "boom" not in body["detail"]
    assert "Retry-After" not in response.headers
    user_store.failure = aiohttp.ClientConnectionError("refused")
    response = await client.get(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    await _scim_error(response, 503)
    assert response.headers["Retry-After"]


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


async def test_every_request_asks_the_user_store_so_a_revocation_counts_at_once(
    client, user_store
) -> None:
    # No cache: a token revoked between two requests (by the admin API or straight in the
    # database by the CLI) must be refused on the second one, on every instance.
    good = {"Authorization": f"Bearer {GOOD}"}
    for _ in range(3):
        assert (await client.get("/scim/v2/acme/ServiceProviderConfig", headers=good)).status == 200
    assert user_store.calls == [("acme", GOOD)] * 3
    user_store.calls.clear()
    bad = {"Authorization": "Bearer wrong"}
    for _ in range(2):
        await _scim_error(await client.get("/scim/v2/acme/Schemas", headers=bad), 401)
    await _scim_error(await client.get("/scim/v2/other/Schemas", headers=good), 401)
    assert user_store.calls == [("acme", "wrong"), ("acme", "wrong"), ("other", GOOD)]


async def test_a_write_nobody_confirms_is_a_503_not_a_hang(aiohttp_client, user_store) -> None:
    bus = MemoryBus()
    await bus.start()
    try:
        app = create_app(ScimApiSettings(request_timeout=0.3), bus=bus, user_store=user_store)
        client = await aiohttp_client(app)
        response = await client.post(
            "/scim/v2/acme/Users",
            json={"userName": "x@example.com"},
            headers={"Authorization": f"Bearer {GOOD}"},
        )
        body = await _scim_error(response, 503)
        assert "may still apply" in body["detail"]
        assert response.headers["Retry-After"]
    finally:
        await bus.stop()


@pytest.mark.parametrize("url", ["evil.example", "ftp://x.example", "https://x.example/?a=1", ""])
def test_public_url_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="absolute http"):
        ScimApiSettings(public_url=url)


async def test_urls_are_built_on_the_public_url_not_the_host(aiohttp_client, user_store) -> None:
    bus = MemoryBus()
    await bus.start()
    try:
        settings = ScimApiSettings(public_url="https://scim.example.com/")
        client = await aiohttp_client(create_app(settings, bus=bus, user_store=user_store))
        response = await client.get(
            "/scim/v2/acme/ServiceProviderConfig",
            headers={"Authorization": f"Bearer {GOOD}", "Host": "evil.example"},
        )
        body = await response.json(content_type=None)
        assert body["meta"]["location"] == (
            "https://scim.example.com/scim/v2/acme/ServiceProviderConfig"
        )
    finally:
        await bus.stop()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/scim/v2/acme/Users", "GET, POST"),
        ("GET", "/scim/v2/acme/Users/.search", "POST"),
        ("POST", "/scim/v2/acme/Users/abc", "GET, PUT, PATCH, DELETE"),
        ("OPTIONS", "/scim/v2/acme/Groups", "GET, POST"),
        ("GET", "/scim/v2/acme/Bulk", "POST"),
        ("GET", "/scim/v2/acme/.search", "POST"),
    ],
)
async def test_a_view_names_the_methods_it_serves(client, method, path, allow) -> None:
    response = await client.request(method, path, headers={"Authorization": f"Bearer {GOOD}"})
    await _scim_error(response, 405)
    assert response.headers["Allow"] == allow


async def test_the_token_is_checked_before_the_method(client, user_store) -> None:
    # A client without a token learns nothing of which methods a path takes.
    await _scim_error(await client.request("PATCH", "/scim/v2/acme/Users"), 401)
    assert "Allow" not in (await client.request("PATCH", "/scim/v2/acme/Users")).headers


async def test_head_is_served_where_get_is(client) -> None:
    response = await client.head(
        "/scim/v2/acme/ServiceProviderConfig", headers={"Authorization": f"Bearer {GOOD}"}
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/scim+json")
