"""Load shedding and deadlines at the SCIM edge (issue 12), on Kafka + PostgreSQL.

Overload is made deterministic, not timed: tiny bounds (2 requests per tenant, 3 in all) and a
user-store held back by a lock on a table its consumer needs, so the admitted requests stay in
flight for as long as the test wants. Beyond the bounds the answer is immediate — while the
admitted ones are still held — 429 (the tenant's share) or 503 (the service's), both with
``Retry-After`` and a SCIM error body; once the lock goes, every admitted request is applied,
nothing refused was published, and retrying the refused ones works.

Then the deadline: with no reply ever coming, a write is answered 503 at the request's deadline,
long before the per-step timeout. And a user-store that refuses scim-api's internal credential is
a 503 for the SCIM client and a loud log line, never a 401 "bearer token is not valid".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_cli import compose
from roster_shared.bus.kafka import KafkaBus
from roster_shared.deadline import ARRIVED
from roster_shared.service import standalone_root
from roster_testing.topics import topic_prefix
from sqlmodel import col, select
from user_store.tables import UserRow

from tests.scim.stack import ScimStack, Tenant, free_port, scim_stack
from tests.scim.test_bad_input import USER, assert_scim_error

DEADLINE = 20.0


@pytest.fixture
def servers(kafka_bootstrap: str, fresh_database_url: str) -> tuple[str, str]:
    return kafka_bootstrap, fresh_database_url


@contextlib.asynccontextmanager
async def _stack(servers: tuple[str, str], **scim_settings: Any) -> AsyncIterator[ScimStack]:
    bootstrap, database = servers
    bus = KafkaBus(bootstrap, client_id="scim-overload")
    async with scim_stack(
        bus,
        database,
        topic_prefix=topic_prefix("o"),
        scim_settings=scim_settings,
    ) as stack:
        yield stack


@contextlib.asynccontextmanager
async def _consumer_held(stack: ScimStack) -> AsyncIterator[None]:
    """The user-store's consumer blocks on its first statement until the block ends."""
    async with stack.engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(sa.text("LOCK TABLE processed_events IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def _in_flight(stack: ScimStack) -> float:
    async with stack.http.get(f"{stack.url}/metrics") as response:
        text = await response.text()
    found = re.search(r"^roster_scim_api_in_flight (\S+)$", text, re.MULTILINE)
    assert found, "no in-flight gauge"
    return float(found.group(1))


async def _post(tenant: Tenant, user_name: str) -> tuple[int, Any, Any, float]:
    started = time.monotonic()
    status, body, headers = await tenant.request(
        "POST", "/Users", json={"schemas": [USER], "userName": user_name}
    )
    return status, body, headers, time.monotonic() - started


@contextlib.contextmanager
def _gc_pauses() -> Iterator[list[float]]:
    """The garbage collector's pauses meanwhile (sorted, seconds), for a failure's message;
    and the objects the test session has accumulated (a thousand tests' worth, in the process
    that also runs the service under test) frozen out of its collections meanwhile: a full
    collection over them is the session's pause, not the service's."""
    pauses: list[float] = []
    started: list[float] = []

    def observe(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append(time.perf_counter() - started.pop())

    gc.collect()
    gc.freeze()
    gc.callbacks.append(observe)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(observe)
        gc.unfreeze()
        pauses.sort()


async def _names(stack: ScimStack) -> set[str]:
    async with stack.sessions() as session:
        rows = await session.execute(select(col(UserRow.user_name)))
        return set(rows.scalars().all())


async def test_beyond_the_bounds_is_429_or_503_at_once_and_nothing_is_lost(
    servers: tuple[str, str],
) -> None:
    async with _stack(
        servers, max_in_flight=3, max_in_flight_per_tenant=2, request_deadline=DEADLINE
    ) as stack:
        a, b, c = [await stack.tenant() for _ in range(3)]
        async with _consumer_held(stack):
            held = [
                asyncio.ensure_future(_post(a, "a1@example.com")),
                asyncio.ensure_future(_post(a, "a2@example.com")),
                asyncio.ensure_future(_post(b, "b1@example.com")),
            ]
            async with asyncio.timeout(30):
                while await _in_flight(stack) < 3:
                    await asyncio.sleep(0.05)
            # The tenant's share is taken: 429 for it, while its requests are still held.
            status, body, headers, _ = await _post(a, "a3@example.com")
            assert_scim_error(status, body, 429, None, "too many requests of this tenant")
            assert headers["Retry-After"] == "1"
            # The service is full: 503 for anyone.
            status, body, headers, _ = await _post(c, "c1@example.com")
            assert_scim_error(status, body, 503, None, "at capacity")
            assert headers["Retry-After"] == "1"
            # Refused before routing, the cheapest place: even a path that is no route is a 503.
            status, body, _ = await c.request("GET", "/NoSuchEndpoint")
            assert_scim_error(status, body, 503, None, "at capacity")
            assert not any(task.done() for task in held), "the admitted ones were still held"
        results = await asyncio.gather(*held)
        for status, body, _, elapsed in results:
            assert status == 201, body
            assert elapsed < DEADLINE, elapsed
        # Nothing admitted was lost; nothing refused was published.
        assert await _names(stack) == {"a1@example.com", "a2@example.com", "b1@example.com"}
        for tenant, name in ((a, "a3@example.com"), (c, "c1@example.com")):
            status, body, _, _ = await _post(tenant, name)
            assert status == 201, body
        metrics = await (await stack.http.get(f"{stack.url}/metrics")).text()
        assert 'roster_scim_api_shed_total{scope="tenant"} 1.0' in metrics
        assert 'roster_scim_api_shed_total{scope="total"} 2.0' in metrics


async def test_a_write_is_answered_at_the_deadline(servers: tuple[str, str]) -> None:
    async with _stack(servers, request_deadline=2.0) as stack:
        tenant = await stack.tenant()
        async with _consumer_held(stack):
            status, body, headers, elapsed = await _post(tenant, "late@example.com")
        assert_scim_error(status, body, 503, None, "may still apply")
        assert "Retry-After" in headers
        # The deadline (2 s) answered, not the per-step timeout (30 s).
        assert elapsed < 10, elapsed


async def test_a_refused_internal_credential_is_503_and_loud(
    servers: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    async with _stack(servers, internal_token="not-the-user-stores") as stack:
        tenant = await stack.tenant()
        status, body, headers = await tenant.request("GET", "/Users")
    assert_scim_error(status, body, 503, None)
    assert "bearer token" not in body["detail"]
    assert "Retry-After" in headers
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert any("internal credential" in r.getMessage() for r in loud), caplog.records


async def test_time_queued_before_the_handler_counts_when_shedding(
    servers: tuple[str, str],
) -> None:
    """Shedding counts from the request's arrival (its stamp when aiohttp's connection task
    took it from the parser), not from its handler's start: a request that waited in a busy
    event loop longer than a fifth of its deadline is refused 503 at once, with no work done
    for it (roster_shared.deadline has the same for the deadline itself)."""
    async with _stack(servers, request_deadline=2.0) as stack:
        tenant = await stack.tenant()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        wiring = dataclasses.replace(stack.wiring, public_url=url)
        root = standalone_root(
            compose.service_api(compose.SCIM_API, wiring, bus=stack.bus),
            compose.prefix(compose.SCIM_API),
        )
        stamped = root._make_request

        def busy_loop(*args: Any, **kwargs: Any) -> web.BaseRequest:
            # What a loop busy with a thousand other connections does to this request: after
            # its bytes are read and it is stamped, nothing runs for longer than its deadline.
            request = stamped(*args, **kwargs)
            assert ARRIVED in request, "the root stamps each request's arrival"
            if request.method == "POST":
                time.sleep(2.5)
            return request

        object.__setattr__(root, "_make_request", busy_loop)
        server = TestServer(root, host="127.0.0.1", port=port)
        await server.start_server()
        try:
            late = dataclasses.replace(tenant, base=f"{url}/scim/v2/{tenant.info.slug}")
            status, body, headers, elapsed = await _post(late, "queued@example.com")
            metrics = await (await stack.http.get(f"{url}/metrics")).text()
        finally:
            await server.close()
        assert_scim_error(status, body, 503, None, "at capacity")
        assert headers["Retry-After"] == "1"
        assert 'roster_scim_api_shed_total{scope="queued"} 1.0' in metrics
        # Answered at once after the wait, not after a fresh 2 s (nor with a 201 at ~2.6 s).
        assert elapsed < 2.0 + 1.0, elapsed
        # No work was done: the same userName is new to the user-store.
        status, body, _, _ = await _post(tenant, "queued@example.com")
        assert status == 201, body
        assert await _names(stack) == {"queued@example.com"}


async def test_under_a_burst_no_answer_comes_after_the_deadline_from_the_clients_send(
    servers: tuple[str, str],
) -> None:
    """A burst of writes at once against a user-store that applies nothing: every request is
    answered — 201 impossible, so 503 at the deadline — within the deadline counted from when
    the client sent it, time queued in the service's event loop included."""
    deadline = 2.0
    with _gc_pauses() as pauses:
        async with _stack(servers, request_deadline=deadline) as stack:
            tenant = await stack.tenant()
            # A connection each, so that no request waits for one on the client's side.
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
                _consumer_held(stack),
            ):
                burst = dataclasses.replace(tenant, http=http)
                results = await asyncio.gather(
                    *(_post(burst, f"burst{n}@example.com") for n in range(120))
                )
    statuses = {status for status, _, _, _ in results}
    assert statuses == {503}, statuses
    spread = sorted(round(elapsed, 3) for *_, elapsed in results)[::12]
    for status, body, headers, elapsed in results:
        assert "Retry-After" in headers, (status, body)
        # The deadline, plus what the client's own side of one loop takes to send and read.
        assert elapsed < deadline + 1.0, (elapsed, spread, f"longest GC pauses: {pauses[-3:]}")
    assert max(elapsed for *_, elapsed in results) >= deadline - 0.1, "they did wait"


async def test_refusals_are_recorded_once_per_tenant_per_second(servers: tuple[str, str]) -> None:
    """A refusal costs little: the request log (which the user-store stores) gets the first of
    each tenant per second, with its scope as the reason, not one record per refusal."""
    async with _stack(servers, max_in_flight=10, max_in_flight_per_tenant=1) as stack:
        tenant = await stack.tenant()
        async with _consumer_held(stack):
            held = asyncio.ensure_future(_post(tenant, "held@example.com"))
            async with asyncio.timeout(30):
                while await _in_flight(stack) < 1:
                    await asyncio.sleep(0.05)
            started = time.monotonic()
            refused = [await _post(tenant, f"r{n}@example.com") for n in range(5)]
            spread = time.monotonic() - started
        assert [status for status, *_ in refused] == [429] * 5
        assert (await held)[0] == 201
        # A marker recorded after them: once it is stored, every earlier record is (FIFO).
        status, _, _ = await tenant.request("GET", "/Users?count=1")
        assert status == 200
        async with asyncio.timeout(30):
            while True:
                async with stack.engine.connect() as connection:
                    rows = (
                        await connection.execute(
                            sa.text(
                                "SELECT status, reason FROM request_log"
                                " WHERE tenant_id = :t ORDER BY id"
                            ),
                            {"t": tenant.info.id},
                        )
                    ).all()
                if any(row.status == 200 for row in rows):
                    break
                await asyncio.sleep(0.2)
    shed = [row for row in rows if row.status == 429]
    # The five refusals came within ~`spread` seconds: one record per second begun.
    assert 1 <= len(shed) <= 1 + int(spread), (rows, spread)
    assert all("too many requests of this tenant" in row.reason for row in shed), shed
    assert {row.status for row in rows} == {201, 429, 200}, rows
