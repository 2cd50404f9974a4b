"""The user-store's parts the console reads through: setup links (hashed, single-tenant,
expiring, revocable) and the bounded request log with its counts — on SQLite and PostgreSQL.

These endpoints touch only the database (no event is published), so the bus is the in-process
one in both pairings; the database is what differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from roster_cli import compose
from roster_shared.bus.memory import MemoryBus
from user_store import request_log
from user_store.db import create_engine, migrate

ADMIN = "admin"
INTERNAL = "internal"


class Store:
    def __init__(self, base: str, engine: Any, http: aiohttp.ClientSession) -> None:
        self.base, self.engine, self.http = base, engine, http

    async def call(
        self, method: str, path: str, *, body: Any = None, token: str | None = ADMIN
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.engine.begin() as connection:
            result = await connection.execute(sa.text(statement), params)
            return list(result) if result.returns_rows else []


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("fresh_database_url")
    )
    engine = create_engine(url)
    await migrate(engine)
    bus = MemoryBus()
    await bus.start()
    wiring = compose.Wiring(
        database_url=url, self_url="", admin_token=ADMIN, internal_token=INTERNAL
    )
    server = TestServer(compose.user_store(wiring, bus=bus, engine=engine, consume=False))
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        store = Store(str(server.make_url("")).rstrip("/"), engine, http)
        for slug in ("acme", "other"):
            status, _ = await store.call("POST", "/admin/tenants", body={"slug": slug})
            assert status == 201
        yield store
    await server.close()
    await bus.stop()
    await engine.dispose()


async def test_setup_links_are_hashed_single_tenant_expiring_and_revocable(store: Store) -> None:
    status, body = await store.call(
        "POST",
        "/admin/tenants/acme/setup-links",
        body={"parts": ["scim", "sso"], "expires_in_hours": 2, "label": "for Jane"},
    )
    assert status == 201
    token, link_id = body["token"], body["id"]
    assert token.startswith(f"rsl_{link_id}_") and len(token) == 4 + 16 + 1 + 43
    secret = token[len(f"rsl_{link_id}_") :]
    (row,) = await store.sql("SELECT secret_sha256 FROM setup_links WHERE id = :i", i=link_id)
    assert row[0] == hashlib.sha256(secret.encode()).hexdigest()  # only the hash is kept
    status, listed = await store.call("GET", "/admin/tenants/acme/setup-links")
    assert status == 200 and token not in str(listed) and listed["links"][0]["id"] == link_id

    # Opening: the internal API, with its own credential; the link names its one tenant.
    status, opened = await store.call(
        "POST", "/internal/setup-links/open", body={"token": token}, token=INTERNAL
    )
    assert status == 200 and opened["tenant"]["slug"] == "acme"
    assert opened["link"]["parts"] == ["scim", "sso"]
    status, _ = await store.call("POST", "/internal/setup-links/open", body={"token": token})
    assert status == 401  # the admin credential is not the internal one
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (forged, "rsl_nope", "x" * 300):
        status, body = await store.call(
            "POST", "/internal/setup-links/open", body={"token": wrong}, token=INTERNAL
        )
        assert status == 404 and "not valid" in body["detail"]

    # Another tenant cannot revoke it; its own can, and then it is gone (410, and why).
    status, _ = await store.call("DELETE", f"/admin/tenants/other/setup-links/{link_id}")
    assert status == 404
    status, revoked = await store.call("DELETE", f"/admin/tenants/acme/setup-links/{link_id}")
    assert status == 200 and revoked["revoked_at"]
    status, body = await store.call(
        "POST", "/internal/setup-links/open", body={"token": token}, token=INTERNAL
    )
    assert status == 410 and body["error"] == "link_gone" and "revoked" in body["detail"]

    # Expired: its time passed (moved into the past as time would).
    _, second = await store.call("POST", "/admin/tenants/acme/setup-links", body={"parts": ["sso"]})
    await store.sql(
        "UPDATE setup_links SET expires_at = :t WHERE id = :i",
        t=datetime.now(UTC) - timedelta(seconds=1),
        i=second["id"],
    )
    status, body = await store.call(
        "POST", "/internal/setup-links/open", body={"token": second["token"]}, token=INTERNAL
    )
    assert status == 410 and "expired" in body["detail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"parts": []}, "parts"),
        ({"parts": ["everything"]}, "parts"),
        ({"expires_in_hours": 0}, "expires_in_hours"),
        ({"expires_in_hours": 24 * 31}, "expires_in_hours"),
    ],
)
async def test_bad_setup_link_requests_say_why_and_make_nothing(
    store: Store, body: dict[str, Any], message: str
) -> None:
    status, answer = await store.call("POST", "/admin/tenants/acme/setup-links", body=body)
    assert status == 400 and message in answer["detail"]
    assert await store.sql("SELECT id FROM setup_links") == []


def record(tenant: str, status: int, *, at: datetime | None = None, **kw: Any) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "source": "scim",
        "at": (at or datetime.now(UTC)).isoformat(),
        "method": "POST",
        "route": "POST /Users",
        "status": status,
        **kw,
    }


async def test_request_log_counts_keeps_a_bounded_window_and_token_use(store: Store) -> None:
    now = datetime.now(UTC)
    batch = [record("acme", 201, token_id="a" * 16) for _ in range(7)]
    batch += [
        record("acme", 401, reason="the bearer token is not valid", reference="ref1"),
        record("acme", 409, reason="uniqueness", reference="ref2", at=now - timedelta(hours=3)),
        record("nobody", 500),  # an unknown tenant names no one: dropped
        record("acme", 201, at=now - timedelta(days=3)),  # older than the window: pruned
    ]
    status, body = await store.call(
        "POST", "/internal/request-log", body={"records": batch}, token=INTERNAL
    )
    assert status == 202 and body["kept"] == 10
    status, health = await store.call(
        "GET", "/internal/tenants/acme/request-log/health", token=INTERNAL
    )
    assert status == 200
    assert health["scim"]["hour"] == {"total": 8, "failed": 1}
    assert health["scim"]["day"] == {"total": 9, "failed": 2}
    assert health["scim"]["last_success_at"] is not None
    assert health["scim_seen"] is True
    assert set(health["token_last_used"]) == {"a" * 16}
    _, recent = await store.call(
        "GET", "/internal/tenants/acme/request-log?source=scim&limit=3", token=INTERNAL
    )
    assert len(recent["entries"]) == 3
    assert all("token" not in str(e.get("reason")) or e["status"] == 401 for e in recent["entries"])
    rows = await store.sql("SELECT at FROM request_log")
    assert len(rows) == 9  # the three-day-old one went with the batch

    # Bounded: past KEEP_PER_TENANT the oldest go; the counts still have every request.
    flood = [record("acme", 200) for _ in range(request_log.KEEP_PER_TENANT + 40)]
    for start in range(0, len(flood), 400):
        status, _ = await store.call(
            "POST",
            "/internal/request-log",
            body={"records": flood[start : start + 400]},
            token=INTERNAL,
        )
        assert status == 202
    (count,) = await store.sql("SELECT count(*) FROM request_log WHERE source = 'scim'")
    assert count[0] == request_log.KEEP_PER_TENANT
    _, health = await store.call("GET", "/internal/tenants/acme/request-log/health", token=INTERNAL)
    assert health["scim"]["hour"]["total"] == 8 + len(flood)


async def test_a_run_of_successes_is_one_row_and_counts_as_every_answer(store: Store) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(seconds=1)
    batch = [  # in time order, as the recorder sends them
        record("acme", 409, reason="uniqueness", reference="ref9", at=since),
        record("acme", 201, at=now, since=since.isoformat(), count=250, token_id="b" * 16),
    ]
    status, body = await store.call(
        "POST", "/internal/request-log", body={"records": batch}, token=INTERNAL
    )
    assert status == 202 and body["kept"] == 2
    rows = await store.sql("SELECT status, count, since IS NOT NULL FROM request_log ORDER BY id")
    assert [tuple(r) for r in rows] == [(409, 1, False), (201, 250, True)]
    _, health = await store.call("GET", "/internal/tenants/acme/request-log/health", token=INTERNAL)
    assert health["scim"]["hour"] == {"total": 251, "failed": 1}
    assert set(health["token_last_used"]) == {"b" * 16}
    _, recent = await store.call(
        "GET", "/internal/tenants/acme/request-log?source=scim&limit=5", token=INTERNAL
    )
    newest = recent["entries"][0]
    assert (newest["count"], newest["status"]) == (250, 201)
    assert datetime.fromisoformat(newest["since"]) == since
    assert (recent["entries"][1]["count"], recent["entries"][1]["since"]) == (1, None)
    # A count is at least one (a record cannot stand for no answer) and fits the column.
    for count in (0, 2**31):
        status, answer = await store.call(
            "POST",
            "/internal/request-log",
            body={"records": [record("acme", 201, count=count)]},
            token=INTERNAL,
        )
        assert status == 400 and "records.0.count" in answer["detail"]


async def test_request_log_refuses_what_is_not_a_batch(store: Store) -> None:
    for body in ({"records": [{"tenant": "acme"}]}, {"records": "x"}, [1]):
        status, answer = await store.call(
            "POST", "/internal/request-log", body=body, token=INTERNAL
        )
        assert status == 400 and answer["detail"]
    assert await store.sql("SELECT id FROM request_log") == []
