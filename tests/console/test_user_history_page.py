"""The console's user page shows the user's lifecycle history as the user-store recorded it:
a real SCIM create and deactivation through scim-api, read back on the page (time, event,
source, correlation id, what changed). The console runs as its own application beside a
user-store on Kafka + PostgreSQL, and on the in-process bus + SQLite."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from roster_shared.bus.base import Bus
from roster_shared.bus.memory import MemoryBus

from tests.console.stacks import Stack, separate_stack


@pytest.fixture(params=["kafka-postgres", "memory-sqlite"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stack]:
    bus: Bus
    if request.param == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        url = request.getfixturevalue("fresh_database_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="console-history")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
        bus = MemoryBus()
    async with separate_stack(bus, url) as opened:
        yield opened


class Operator:
    """The operator's browser: keeps the (Secure) cookies by hand, as over HTTPS."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base, self.cookies = http, base, dict[str, str]()

    async def go(self, method: str, path: str, **kw: Any) -> tuple[int, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.http.request(
            method, self.base + path, allow_redirects=False, headers={"Cookie": cookie}, **kw
        ) as response:
            for name, morsel in response.cookies.items():
                self.cookies[name] = morsel.value
            return response.status, await response.text()

    async def post(self, path: str, form_page: str, **data: str) -> tuple[int, str]:
        _, page = await self.go("GET", form_page)
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page[:300]
        return await self.go("POST", path, data={"csrf": match.group(1), **data})


async def test_user_page_shows_the_lifecycle_history(stack: Stack) -> None:
    async with aiohttp.ClientSession() as http:
        operator = Operator(http, stack.console)
        status, _ = await operator.post("/console/signin", "/console/signin", token=stack.admin)
        assert status == 303
        status, _ = await operator.post("/console/tenants", "/console/tenants", slug="acme")
        assert status in (201, 303)
        status, _ = await operator.post(
            "/console/tenants/acme/tokens", "/console/tenants/acme", label="history"
        )
        assert status == 303  # to the tenant's page, which shows the new token once
        status, page = await operator.go("GET", "/console/tenants/acme")
        assert status == 200
        token = re.search(r"rst_[A-Za-z0-9_-]+", page)
        assert token
        scim = f"{stack.public}/scim/v2/acme/Users"
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "kim@example.com",
            "name": {"givenName": "Kim"},
        }
        async with http.post(scim, json=body, headers=auth) as created:
            assert created.status == 201, await created.text()
            user_id = (await created.json())["id"]
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        }
        async with http.patch(f"{scim}/{user_id}", json=patch, headers=auth) as deactivated:
            assert deactivated.status == 200, await deactivated.text()

        # Each SCIM reply comes after the commit that wrote the history: no waiting needed.
        status, page = await operator.go("GET", f"/console/tenants/acme/users/{user_id}")
        assert status == 200
        history = html.unescape(page.split('id="history"', 1)[1])
        rows = re.findall(
            r"<tr><td>([^<]+)</td><td><code>([a-z.]+)</code></td><td>([^<]+)</td>", history
        )
        assert [(kind, source) for _, kind, source in rows] == [
            ("user.deactivated", "SCIM"),
            ("user.created", "SCIM"),
        ]
        assert "active" in history.split("user.deactivated", 1)[1].split("</tr>", 1)[0]
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0][0])
        assert "Kim" not in history  # names of attributes only, never values
        # Another tenant's page for this user is not found (the user-store scopes the read).
        status, _ = await operator.post("/console/tenants", "/console/tenants", slug="globex")
        status, _ = await operator.go("GET", f"/console/tenants/globex/users/{user_id}")
        assert status == 404
