"""The request deadline counts from the request's arrival (roster_shared.deadline), not from
when its handler starts. No servers: a real aiohttp server on a loopback port."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_shared.deadline import ARRIVED, deadline_middleware, remaining, stamp_arrivals


class Expired(Exception):
    pass


@web.middleware
async def answer_expired(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except Expired:
        return web.Response(status=503, text="expired")


async def _serve(queued: float, work: float) -> tuple[int, str, float]:
    """One request to a root that stamps arrivals, after ``queued`` seconds of a blocked loop
    between its stamp and its handler, to a handler that works ``work`` seconds."""

    async def handler(_request: web.Request) -> web.Response:
        assert remaining() <= 1.0 - queued
        await asyncio.sleep(work)
        return web.Response(text="done")

    root = web.Application(middlewares=[answer_expired, deadline_middleware(1.0, Expired)])
    root.router.add_post("/", handler)
    stamp_arrivals(root)
    stamped = root._make_request

    def busy(*args: Any, **kwargs: Any) -> web.BaseRequest:
        request = stamped(*args, **kwargs)
        assert ARRIVED in request
        time.sleep(queued)  # the loop busy with other work after this request was read
        return request

    object.__setattr__(root, "_make_request", busy)
    server = TestServer(root, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            sent = time.monotonic()
            async with http.post(server.make_url("/")) as response:
                text = await response.text()
            return response.status, text, time.monotonic() - sent
    finally:
        await server.close()


async def test_a_request_that_queued_past_its_deadline_is_answered_at_once_without_work() -> None:
    status, text, elapsed = await _serve(queued=1.2, work=0.0)
    assert (status, text) == (503, "expired")
    # At once after the wait: not a fresh second from the handler's start.
    assert elapsed < 1.2 + 0.5, elapsed


async def test_time_queued_is_taken_from_what_the_handler_has_left() -> None:
    # 0.6 s queued + 0.6 s of work: past the 1 s deadline counted from arrival (within it
    # counted from the handler's start).
    status, text, elapsed = await _serve(queued=0.6, work=0.6)
    assert (status, text) == (503, "expired")
    assert elapsed < 1.0 + 0.3, elapsed


async def test_a_request_within_its_deadline_is_served() -> None:
    status, text, _ = await _serve(queued=0.1, work=0.1)
    assert (status, text) == (200, "done")
