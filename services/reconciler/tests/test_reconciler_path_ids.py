"""Tenant refs and run ids from the reconciler's admin paths are checked for their form before
anything is asked of the user-store (here unreachable: a lookup would be a 502, not a 404)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient
from reconciler.app import create_app
from reconciler.settings import ReconcilerSettings
from roster_shared.bus.memory import MemoryBus
from yarl import URL

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/reconciler/tenants/..%2Facme/runs", "no tenant of that name or id"),
        ("GET", "/reconciler/tenants/acme%00/runs", "no tenant of that name or id"),
        ("POST", "/reconciler/tenants/%2E%2E/runs", "no tenant of that name or id"),
        ("GET", "/reconciler/tenants/acme/runs/..%2F..%2Fstate", "it is not an id"),
        ("POST", "/reconciler/tenants/acme/runs/x%00/approve", "it is not an id"),
        ("POST", "/reconciler/tenants/acme/runs/..%2Fx/reject", "it is not an id"),
    ],
)
async def test_malformed_path_ids_are_404_before_any_lookup(
    aiohttp_client: ClientFactory, method: str, path: str, detail: str
) -> None:
    bus = MemoryBus()
    settings = ReconcilerSettings(admin_token="adm", user_store_url="http://127.0.0.1:9")
    client = await aiohttp_client(create_app(settings, bus=bus))
    url = URL(str(client.make_url("")).rstrip("/") + path, encoded=True)
    async with client.session.request(
        method, url, headers={"Authorization": "Bearer adm"}, json={}
    ) as response:
        body = await response.json()
    assert (response.status, body["error"]) == (404, "not_found"), body
    assert detail in body["detail"]
    await client.close()
    await bus.stop()
