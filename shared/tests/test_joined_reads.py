"""Joined reads (roster_shared.joined_reads): concurrent callers of one key share a read, and
none is answered by a read begun before it came. The read here is a function over a value the
test changes (as a revocation changes ``scim_tokens``); the real database's side is in
tests/integration/test_reader_role.py, the user-store's in tests/cli/test_inprocess_client.py."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_shared.deadline import deadline_middleware, remaining
from roster_shared.joined_reads import JoinedReads


class Store:
    """A value read through a gate: a read takes its snapshot when it begins, then waits."""

    def __init__(self) -> None:
        self.value = "live"
        self.gate = asyncio.Event()
        self.begun: list[str] = []

    async def fetch(self) -> str:
        snapshot = self.value
        self.begun.append(snapshot)
        await self.gate.wait()
        return snapshot


async def test_callers_that_come_together_share_one_read() -> None:
    store, reads = Store(), JoinedReads[str]()
    store.gate.set()
    answers = await asyncio.gather(*(reads.read("k", store.fetch) for _ in range(20)))
    assert answers == ["live"] * 20
    assert reads.reads == 1 and store.begun == ["live"]


async def test_a_caller_that_comes_during_a_read_gets_the_next_one() -> None:
    store, reads = Store(), JoinedReads[str]()
    first = asyncio.create_task(reads.read("k", store.fetch))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.begun == ["live"]  # the first read has begun and holds its snapshot
    store.value = "revoked"  # committed before the next callers come
    later = [asyncio.create_task(reads.read("k", store.fetch)) for _ in range(5)]
    await asyncio.sleep(0.01)
    # One read per key at a time: the later callers' read waits, it has not begun.
    assert store.begun == ["live"]
    store.gate.set()
    assert await first == "live"
    # Not the first read's answer, which began before they came: a read of their own, shared.
    assert await asyncio.gather(*later) == ["revoked"] * 5
    assert reads.reads == 2 and store.begun == ["live", "revoked"]


async def test_keys_are_not_joined() -> None:
    store, reads = Store(), JoinedReads[str]()
    store.gate.set()
    await asyncio.gather(reads.read("a", store.fetch), reads.read("b", store.fetch))
    assert reads.reads == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_read_the_others_joined() -> None:
    store, reads = Store(), JoinedReads[str]()
    impatient = asyncio.create_task(reads.read("k", store.fetch))
    patient = asyncio.create_task(reads.read("k", store.fetch))
    await asyncio.sleep(0.01)
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    store.gate.set()
    assert await patient == "live"
    assert reads.reads == 1


async def test_a_failed_read_fails_every_caller_that_joined_it_and_not_the_next() -> None:
    reads = JoinedReads[str]()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return "live"

    outcomes = await asyncio.gather(
        *(reads.read("k", flaky) for _ in range(3)), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [ConnectionError] * 3
    assert await reads.read("k", flaky) == "live"


async def test_a_read_runs_under_no_callers_deadline() -> None:
    # Two services' requests (deadline_middleware: 0.05 s and 30 s) join one read. The first,
    # nearly out of time, queued it: the read must not inherit that deadline, or every caller
    # that joined it would fail with it.
    reads = JoinedReads[float]()
    gate = asyncio.Event()

    async def budget() -> float:
        await gate.wait()
        return remaining(10.0)  # what a user-store call allows itself

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response({"budget": await reads.read("k", budget)})

    @web.middleware
    async def expired(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except LookupError:
            return web.json_response({"error": "deadline"}, status=503)

    servers = []
    for seconds in (0.05, 30.0):
        app = web.Application(
            middlewares=[expired, deadline_middleware(seconds, lambda: LookupError("late"))]
        )
        app.router.add_get("/", handler)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
    try:
        # A read of the key is running, so the hurried request's read waits queued behind it,
        # and the patient request joins that queued read.
        running = asyncio.create_task(reads.read("k", budget))
        await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as client:
            hurried = asyncio.create_task(client.get(servers[0].make_url("/")))
            await asyncio.sleep(0.02)
            patient = asyncio.create_task(client.get(servers[1].make_url("/")))
            first = await hurried
            assert first.status == 503  # its own deadline, as the middleware enforces it
            gate.set()
            second = await patient
            assert second.status == 200
            # The client's own timeout, not the hurried request's spent deadline.
            assert (await second.json())["budget"] == 10.0
        assert await running == 10.0
        assert reads.reads == 2  # the running one, and the one both requests shared
    finally:
        for server in servers:
            await server.close()
