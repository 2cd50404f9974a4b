"""The recorder sends identical successes as runs and every failure on its own
(``roster_shared.request_log``), to a real HTTP endpoint on loopback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from roster_shared.request_log import MAX_BATCH, PATH, Recorder


async def _endpoint(status: int = 202) -> tuple[TestServer, list[list[dict[str, Any]]]]:
    batches: list[list[dict[str, Any]]] = []

    async def take(request: web.Request) -> web.Response:
        batches.append((await request.json())["records"])
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post(PATH, take)
    server = TestServer(app)
    await server.start_server()
    return server, batches


def _create(recorder: Recorder, tenant: str = "acme", status: int = 201, **kw: Any) -> None:
    recorder.record(
        tenant=tenant,
        source="scim",
        method="POST",
        route="POST /Users",
        status=status,
        token_id="t" * 16,
        **kw,
    )


async def test_identical_successes_become_one_record_and_failures_stay_apart() -> None:
    server, batches = await _endpoint()
    recorder = Recorder(str(server.make_url("/")), token="internal")
    try:
        for _ in range(300):
            _create(recorder)
        _create(recorder, status=409, reason="uniqueness: userName", reference="ref-1")
        for _ in range(5):
            _create(recorder)
        _create(recorder, tenant="globex")  # another tenant: a run of its own
        _create(recorder, status=200, reason=None)  # another status: a run of its own
        async with aiohttp.ClientSession() as http:
            await recorder.flush(http)
    finally:
        await server.close()

    (batch,) = batches
    by_key = {(r["tenant"], r["status"]): r for r in batch}
    assert len(batch) == 4
    run = by_key[("acme", 201)]
    assert run["count"] == 305  # the failure between them did not split the run
    assert datetime.fromisoformat(run["since"]) < datetime.fromisoformat(run["at"])
    assert run["reason"] is None and run["reference"] is None and run["token_id"] == "t" * 16
    failure = by_key[("acme", 409)]
    assert (failure["count"], failure["since"]) == (1, None)
    assert (failure["reason"], failure["reference"]) == ("uniqueness: userName", "ref-1")
    assert (by_key[("globex", 201)]["count"], by_key[("globex", 201)]["since"]) == (1, None)
    assert by_key[("acme", 200)]["count"] == 1
    # Stored in time order: the run that ended last comes last.
    assert [r["at"] for r in batch] == sorted(r["at"] for r in batch)
    assert recorder.sent == 308 and recorder.dropped == 0


async def test_a_flush_closes_the_runs_and_a_refused_batch_counts_every_answer_lost() -> None:
    server, batches = await _endpoint(status=500)
    recorder = Recorder(str(server.make_url("/")), token="internal")
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(40):
                _create(recorder)
            await recorder.flush(http)
            _create(recorder)
            await recorder.flush(http)
    finally:
        await server.close()

    assert [[r["count"] for r in batch] for batch in batches] == [[40], [1]]
    assert (recorder.sent, recorder.dropped) == (0, 41)


async def test_runs_are_bounded_like_the_buffer() -> None:
    recorder = Recorder("http://127.0.0.1:9", token=None, capacity=3)
    for n in range(5):
        _create(recorder, tenant=f"tenant-{n}")
    _create(recorder, tenant="tenant-0")  # joins its run: nothing more kept
    assert recorder.dropped == 2


async def test_records_go_in_time_order_across_batches() -> None:
    server, batches = await _endpoint()
    recorder = Recorder(str(server.make_url("/")), token="internal")
    try:
        _create(recorder)  # a run that ends before the failures below
        for n in range(MAX_BATCH + 100):
            _create(recorder, status=400, reason="invalid", reference=f"ref-{n}")
        async with aiohttp.ClientSession() as http:
            await recorder.flush(http)
    finally:
        await server.close()

    assert [len(batch) for batch in batches] == [MAX_BATCH, 101]
    sent = [record for batch in batches for record in batch]
    assert sent[0]["status"] == 201  # the run first: it ended first
    assert [r["at"] for r in sent] == sorted(r["at"] for r in sent)
