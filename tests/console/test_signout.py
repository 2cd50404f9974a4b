"""Operator sign-out ends the session on the server: a copy of the cookie taken before
sign-out is refused afterwards, by the console that signed out and by another console process
sharing the user-store — on SQLite and PostgreSQL (the sign-out record is the user-store's)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from console.app import create_app
from console.settings import ConsoleSettings

from tests.console.test_user_store_console_api import ADMIN, INTERNAL, Store, store

__all__ = ["store"]  # the user-store fixture, on both databases


class Browser:
    """One browser: keeps the (Secure) cookies by hand, as over HTTPS."""

    def __init__(self, http: aiohttp.ClientSession, cookies: dict[str, str] | None = None) -> None:
        self.http, self.cookies = http, dict(cookies or {})

    async def go(self, method: str, url: str, **kw: Any) -> tuple[int, str, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.http.request(
            method, url, allow_redirects=False, headers={"Cookie": cookie}, **kw
        ) as response:
            for name, morsel in response.cookies.items():
                self.cookies[name] = morsel.value
            return response.status, await response.text(), response.headers.get("Location", "")

    async def post(self, url: str, form_url: str, **data: str) -> tuple[int, str, str]:
        _, page, _ = await self.go("GET", form_url)
        match = re.search(r'name="csrf" value="([^"]+)"', page)
        assert match, page[:300]
        return await self.go("POST", url, data={"csrf": match.group(1), **data})


@pytest.fixture
async def consoles(store: Store) -> AsyncIterator[tuple[str, str]]:
    """Two console processes (separate applications, same settings) on one user-store."""
    settings = ConsoleSettings(
        user_store_url=store.base,
        admin_token=ADMIN,
        internal_token=INTERNAL,
        session_secret="console-session-secret-" + "x" * 16,
        public_url="https://roster.example.com",
    )
    servers = [TestServer(create_app(settings)) for _ in range(2)]
    for server in servers:
        await server.start_server()
    yield tuple(str(s.make_url("")).rstrip("/") for s in servers)  # type: ignore[misc]
    for server in servers:
        await server.close()


async def test_a_copied_cookie_is_refused_after_sign_out(
    store: Store, consoles: tuple[str, str]
) -> None:
    one, two = consoles
    operator = Browser(store.http)
    status, _, where = await operator.post(
        f"{one}/console/signin", f"{one}/console/signin", token=ADMIN
    )
    assert status == 303 and where == "/console/tenants"
    thief = Browser(store.http, operator.cookies)  # a copy of every cookie, taken now
    assert (await thief.go("GET", f"{one}/console/tenants"))[0] == 200
    assert (await thief.go("GET", f"{two}/console/tenants"))[0] == 200

    status, _, where = await operator.post(f"{one}/console/signout", f"{one}/console/tenants")
    assert status == 303 and where == "/console/signin"
    # The copy is refused everywhere, though its sealed value has not expired.
    for base in (one, two):
        status, _, where = await thief.go("GET", f"{base}/console/tenants")
        assert (status, where) == (303, "/console/signin"), base
    (row,) = await store.sql("SELECT session_hash, expires_at FROM console_signouts")
    assert len(row.session_hash) == 64  # a hash of the session id, never the cookie
    assert row.session_hash not in str(operator.cookies)

    # A new sign-in is a new session, unaffected by the old one's sign-out.
    again = Browser(store.http)
    assert (await again.post(f"{two}/console/signin", f"{two}/console/signin", token=ADMIN))[
        0
    ] == 303
    assert (await again.go("GET", f"{one}/console/tenants"))[0] == 200


async def test_sign_out_records_refuse_bad_input(store: Store) -> None:
    status, body = await store.call(
        "POST", "/admin/console-sessions/signed-out", body={"session_hash": "abc", "expires_at": 1}
    )
    assert status == 400 and "session_hash" in body["detail"]
    status, body = await store.call(
        "POST",
        "/admin/console-sessions/signed-out",
        body={"session_hash": "a" * 64, "expires_at": 10**12},
    )
    assert status == 400 and "expires_at" in body["detail"]
    status, _ = await store.call(
        "POST", "/admin/console-sessions/check", body={"session_hash": "a" * 64}, token="guess"
    )
    assert status == 401
    assert await store.sql("SELECT * FROM console_signouts") == []
