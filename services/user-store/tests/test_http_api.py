"""The user-store's HTTP API: credentials, typed JSON errors, the internal API over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.topics import Topics
from user_store.app import SERVICE, create_app
from user_store.settings import UserStoreSettings

ADMIN = {"Authorization": "Bearer admin-secret"}
INTERNAL = {"Authorization": "Bearer internal-secret"}


@pytest.fixture
async def client(aiohttp_client: Any, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    settings = UserStoreSettings(
        admin_token="admin-secret",  # type: ignore[arg-type]
        internal_token="internal-secret",  # type: ignore[arg-type]
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}",
        topic_partitions=1,
    )
    app = create_app(settings, bus=MemoryBus(retry_backoff=0.05))
    yield await aiohttp_client(app)


async def test_admin_api_requires_the_admin_token(client: TestClient[Any, Any]) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, INTERNAL, {"Authorization": "Basic x"}):
        response = await client.get("/admin/tenants", headers=headers)
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"
    assert (await client.get("/admin/tenants", headers=ADMIN)).status == 200


async def test_internal_api_requires_the_internal_token(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/internal/tenants/acme")).status == 401
    response = await client.get("/internal/tenants/acme", headers=INTERNAL)
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_tenant"


async def test_tenant_lifecycle_and_token_verification(client: TestClient[Any, Any]) -> None:
    created = await client.post(
        "/admin/tenants", json={"slug": "acme", "mode": "scim"}, headers=ADMIN
    )
    assert created.status == 201
    tenant = await created.json()
    clash = await client.post("/admin/tenants", json={"slug": "acme"}, headers=ADMIN)
    assert clash.status == 409 and (await clash.json())["error"] == "uniqueness"
    bad = await client.post("/admin/tenants", json={"slug": "acme", "mode": "ldap"}, headers=ADMIN)
    assert bad.status == 400 and "mode must be one of" in (await bad.json())["detail"]
    changed = await client.patch("/admin/tenants/acme", json={"mode": "scim+jit"}, headers=ADMIN)
    assert (await changed.json())["mode"] == "scim+jit"

    issued = await (
        await client.post("/admin/tenants/acme/tokens", json={"label": "okta"}, headers=ADMIN)
    ).json()
    ok = await client.post(
        "/internal/tenants/acme/tokens/verify", json={"token": issued["token"]}, headers=INTERNAL
    )
    assert ok.status == 200 and (await ok.json())["id"] == tenant["id"]
    shown = await (await client.get("/admin/tenants/acme", headers=ADMIN)).json()
    assert issued["token"] not in str(shown)
    await client.delete(f"/admin/tenants/acme/tokens/{issued['id']}", headers=ADMIN)
    refused = await client.post(
        "/internal/tenants/acme/tokens/verify", json={"token": issued["token"]}, headers=INTERNAL
    )
    assert refused.status == 401


async def test_internal_api_reads_over_http(client: TestClient[Any, Any]) -> None:
    tenant = await (
        await client.post("/admin/tenants", json={"slug": "acme"}, headers=ADMIN)
    ).json()
    service = client.app[SERVICE]
    topics = Topics()
    for i in range(3):
        event = ingest.UserUpserted(
            tenant_id=tenant["id"],
            source="scim",
            data={"attributes": {"user_name": f"u{i}@example.com", "external_id": f"e{i}"}},
        )
        await service.bus.send(event_record(topics.ingest, event))
    # Applied asynchronously: poll the internal API until all three are there.
    for _ in range(100):
        page = await (
            await client.post(
                f"/internal/tenants/{tenant['id']}/users/query",
                json={"sort_by": "userName"},
                headers=INTERNAL,
            )
        ).json()
        if page["total"] == 3:
            break
        await asyncio.sleep(0.05)
    assert [u["user_name"] for u in page["items"]] == [f"u{i}@example.com" for i in range(3)]
    one = await client.get(
        f"/internal/tenants/{tenant['id']}/users/{page['items'][0]['id']}", headers=INTERNAL
    )
    assert one.status == 200
    other = await client.get(
        f"/internal/tenants/other/users/{page['items'][0]['id']}", headers=INTERNAL
    )
    assert other.status == 404 and (await other.json())["error"] == "not_found"
    bad_filter = await client.post(
        f"/internal/tenants/{tenant['id']}/users/query",
        json={"filter": {"kind": "compare", "attr": "shoeSize", "op": "eq", "value": "9"}},
        headers=INTERNAL,
    )
    assert bad_filter.status == 400 and "shoeSize" in (await bad_filter.json())["detail"]
    not_json = await client.post(
        f"/internal/tenants/{tenant['id']}/users/query", data=b"{nope", headers=INTERNAL
    )
    assert not_json.status == 400 and (await not_json.json())["detail"] == (
        "the body is not valid JSON"
    )


async def test_a_database_that_does_not_answer_is_503_retry_later(aiohttp_client: Any) -> None:
    """The caller did nothing wrong: a typed 503 with Retry-After, never a 500 that reads as
    final (scim-api passes it on to the IdP as SCIM 503)."""
    from aiohttp.test_utils import unused_port

    settings = UserStoreSettings(
        admin_token="admin-secret",  # type: ignore[arg-type]
        internal_token="internal-secret",  # type: ignore[arg-type]
        # Nothing listens there: a PostgreSQL that is down.
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{unused_port()}/roster",
        migrate_on_start=False,
    )
    client = await aiohttp_client(create_app(settings, bus=MemoryBus(), consume=False))
    response = await client.get("/internal/tenants/acme", headers=INTERNAL)
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    body = await response.json()
    assert body["error"] == "unavailable" and body["detail"] == "the database is not answering"
