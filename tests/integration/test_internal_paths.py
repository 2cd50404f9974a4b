"""Path tricks against the user-store's internal and admin APIs, on SQLite and PostgreSQL: each is
a typed JSON 404/400 for the parameter's form (``user_store.path_params``), never a 500.

Before, a NUL byte in an id reached PostgreSQL (an encoding error: 500), and an encoded
traversal reached the query as an id. The raw paths are sent byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.bus.memory import MemoryBus
from roster_shared.events.envelope import new_id
from roster_shared.tenants import ProvisioningMode
from user_store import path_params, tenants
from user_store.app import create_app
from user_store.keys import SESSIONS
from user_store.settings import UserStoreSettings
from yarl import URL

from tests.integration.harness import internal_api

ClientFactory = Callable[..., Awaitable[TestClient]]
ADMIN = {"Authorization": "Bearer admin"}
INTERNAL = {"Authorization": "Bearer internal"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[TestClient]:
    async with internal_api(request.param, request, tmp_path, internal_token="internal") as app:
        yield await aiohttp_client(app)


async def _tenant(client: TestClient, slug: str) -> str:
    async with client.app[SESSIONS]() as session, session.begin():
        return (await tenants.create_tenant(session, slug, ProvisioningMode.SCIM)).id


async def raw(client: TestClient, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    url = URL(str(client.make_url("")).rstrip("/") + path, encoded=True)
    async with client.session.request(method, url, **kw) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


async def test_path_tricks_are_typed_json_errors_never_500(client: TestClient) -> None:
    acme, globex = await _tenant(client, "acme"), await _tenant(client, "globex")
    someone = new_id()
    hop = "%2F".join(["..", "..", globex, "users", someone])
    cases: list[tuple[str, str, int, str, str]] = [
        # method, path, status, error code, the check that refused it
        ("GET", f"/internal/tenants/{acme}/users/{hop}", 404, "not_found", "not an id"),
        ("GET", f"/internal/tenants/{acme}/users/{someone}%00", 404, "not_found", "not an id"),
        ("GET", f"/internal/tenants/{acme}/users/%FF%FE", 404, "not_found", "not an id"),
        ("GET", f"/internal/tenants/{acme}/groups/..%252F{someone}", 404, "not_found", "not an id"),
        ("GET", f"/internal/tenants/{acme}/groups/a%5Cb", 404, "not_found", "not an id"),
        ("GET", f"/internal/tenants/{acme}%00/users/{someone}", 404, "not_found", "not an id"),
        ("POST", "/internal/tenants/acme/users/query", 404, "not_found", "not an id"),
        ("GET", "/internal/tenants/acme%00", 404, "unknown_tenant", "no tenant of that name"),
        ("GET", "/internal/tenants/..%2Fglobex", 404, "unknown_tenant", "no tenant of that name"),
        ("GET", "/internal/tenants/%2E%2E", 404, "unknown_tenant", "no tenant of that name"),
        ("GET", "/internal/tenants/ACME", 404, "unknown_tenant", "no tenant of that name"),
        ("POST", "/internal/tenants/acme%0A/tokens/verify", 404, "unknown_tenant", "no tenant"),
        ("POST", "/internal/tenants/%00/replay-claims", 404, "unknown_tenant", "no tenant"),
        ("PUT", "/internal/tenants/acme%2F..%2Fglobex/settings/sso", 404, "unknown_tenant", ""),
        ("GET", "/internal/tenants/acme/reconciler/runs/x%00", 404, "not_found", "not an id"),
        ("GET", "/internal/tenants/acme/reconciler/runs/..%2Fstate", 404, "not_found", "not an"),
        ("DELETE", "/internal/tenants/acme/reconciler/lease/h%00", 400, "invalid", "holder"),
        ("PUT", "/internal/tenants/acme/reconciler/settings/%00", 400, "invalid", "section"),
    ]
    for method, path, status, code, why in cases:
        got, body = await raw(client, method, path, headers=INTERNAL, json={})
        assert (got, body["error"]) == (status, code), (method, path, body)
        assert why in body["detail"], (path, body)
        assert "%00" not in body["detail"] and "\x00" not in body["detail"]  # not echoed
    for method, path, status, code in [
        ("GET", "/admin/tenants/acme%00", 404, "unknown_tenant"),
        ("PATCH", "/admin/tenants/..%2Facme", 404, "unknown_tenant"),
        ("DELETE", "/admin/tenants/acme/tokens/..%2F..%2Fglobex", 404, "not_found"),
        ("DELETE", "/admin/tenants/acme/tokens/%00%00%00%00%00%00%00%00", 404, "not_found"),
    ]:
        got, body = await raw(client, method, path, headers=ADMIN, json={})
        assert (got, body["error"]) == (status, code), (method, path, body)
    # The genuine paths still work.
    got, body = await raw(client, "GET", "/internal/tenants/acme", headers=INTERNAL)
    assert got == 200 and body["id"] == acme
    got, body = await raw(client, "GET", f"/internal/tenants/{acme}", headers=INTERNAL)
    assert got == 200 and body["slug"] == "acme"
    got, body = await raw(
        client, "GET", f"/internal/tenants/{acme}/users/{someone}", headers=INTERNAL
    )
    assert (got, body["error"], body["detail"]) == (404, "not_found", f"no user {someone}")


async def test_credentials_are_checked_before_the_path(client: TestClient) -> None:
    got, body = await raw(client, "GET", "/internal/tenants/acme%00")
    assert (got, body["error"]) == (401, "unauthorized")


def test_every_path_parameter_of_every_route_has_a_declared_form(tmp_path: Path) -> None:
    app = create_app(
        UserStoreSettings(admin_token="a", database_url=f"sqlite+aiosqlite:///{tmp_path}/r.db"),
        bus=MemoryBus(),
        consume=False,
    )
    names: set[str] = set()
    for resource in app.router.resources():
        info = resource.get_info()
        names.update(re.findall(r"\{(\w+)", info.get("formatter", "")))
    assert names, "no parameterised routes found"
    assert names <= set(path_params.FORMS), names - set(path_params.FORMS)


async def test_tenant_lookup_answers_what_the_orm_reads(client: TestClient) -> None:
    """``GET /internal/tenants/{ref}`` is one statement on a bare connection (hot_reads): by id
    and by slug it answers exactly the ORM's ``get_tenant`` (settings included), and an unknown
    tenant, or a ref naming none by either key, is a typed 404."""
    acme = await _tenant(client, "acme")
    async with client.app[SESSIONS]() as session, session.begin():
        await tenants.update_tenant(session, acme, settings={"sso": {"note": "ü"}})
    async with client.app[SESSIONS]() as session:
        expected = (await tenants.get_tenant(session, acme)).model_dump(mode="json")
    for ref in (acme, "acme"):
        status, body = await raw(client, "GET", f"/internal/tenants/{ref}", headers=INTERNAL)
        assert (status, body) == (200, expected)
    status, body = await raw(client, "GET", "/internal/tenants/nobody", headers=INTERNAL)
    assert (status, body["error"]) == (404, "unknown_tenant")
