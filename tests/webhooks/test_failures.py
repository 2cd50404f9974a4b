"""Webhooks when receivers fail: retries with backoff, Retry-After honoured, a persistently
failing endpoint paused with its reason and nothing dropped, every attempt recorded."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

from roster_cli.main import main

from tests.downstream.mirror import scim_create
from tests.webhooks.stack import HookStack, Receiver


async def _until(stack: HookStack, tenant, endpoint: str, predicate, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        shown = await stack.show(tenant, endpoint)
        if predicate(shown):
            return shown
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(shown)
        await asyncio.sleep(0.1)


async def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt(
    stack: HookStack, hooks: Receiver
) -> None:
    acme = await stack.tenant("acme")
    endpoint, secret = await stack.endpoint(acme, hooks.url("flaky", "f", "fail=3"))
    await hooks.trust("f", secret)
    await scim_create(acme, "ada")
    messages = await hooks.wait("f", 1)
    assert [m["status"] for m in messages] == [500, 500, 500, 204]
    assert len({m["event_id"] for m in messages}) == 1  # the same event, the same webhook-id
    attempts = await stack.attempts(acme, endpoint)
    while len(attempts) < 4:  # the attempt is recorded once the receiver has answered
        await asyncio.sleep(0.05)
        attempts = await stack.attempts(acme, endpoint)
    assert [a["status_code"] for a in attempts] == [500, 500, 500, 204]
    assert [a["error"] for a in attempts] == ["HTTP 500"] * 3 + [None]
    assert all(a["latency_ms"] >= 0 and a["type"] == "user.created" for a in attempts)
    gaps = [
        (datetime.fromisoformat(b["attempted_at"]) - datetime.fromisoformat(a["attempted_at"]))
        for a, b in itertools.pairwise(attempts)
    ]
    # Backoff: 0.05 s doubling (jittered ±20 %), so each wait is at least 0.04 s.
    assert all(gap.total_seconds() >= 0.04 for gap in gaps), gaps


async def test_a_429_with_retry_after_is_honoured(stack: HookStack, hooks: Receiver) -> None:
    acme = await stack.tenant("acme")
    endpoint, secret = await stack.endpoint(acme, hooks.url("throttle", "t"))
    await hooks.trust("t", secret)
    await scim_create(acme, "bob")
    messages = await hooks.wait("t", 1)
    assert [m["status"] for m in messages] == [429, 204]
    # The receiver asked for 2 s; the policy alone would have waited about 0.05 s.
    assert messages[1]["at"] - messages[0]["at"] >= 1.9
    attempts = await stack.attempts(acme, endpoint)
    while len(attempts) < 2:
        await asyncio.sleep(0.05)
        attempts = await stack.attempts(acme, endpoint)
    assert [a["status_code"] for a in attempts] == [429, 204]


async def test_a_persistently_failing_endpoint_is_paused_with_the_reason_and_resumed(
    stack: HookStack, hooks: Receiver
) -> None:
    acme = await stack.tenant("acme")
    endpoint, secret = await stack.endpoint(acme, hooks.url("down", "d"))
    await hooks.trust("d", secret)
    await scim_create(acme, "cyd")
    paused = await _until(stack, acme, endpoint, lambda e: e["status"] == "paused")
    # retry_for is 4 s in these tests (3 days by default).
    assert "failing since" in paused["paused_reason"] and "HTTP 503" in paused["paused_reason"]
    assert paused["pending"] == 1  # kept, not dropped
    # While paused, new events wait too.
    await scim_create(acme, "dee")
    await _until(stack, acme, endpoint, lambda e: e["pending"] == 2)
    failed = len((await hooks.log("d"))["messages"])
    await hooks.heal("d")
    code = await asyncio.to_thread(
        main,
        [
            "webhook",
            "resume",
            "acme",
            endpoint,
            "--url",
            stack.url,
            f"--admin-token={stack.admin_token}",
        ],
    )
    assert code == 0
    messages = await hooks.wait("d", 2)
    delivered = [m for m in messages[failed:] if m["status"] == 204]
    assert [m["user_name"] for m in delivered] == ["cyd@example.com", "dee@example.com"]
    shown = await _until(stack, acme, endpoint, lambda e: e["pending"] == 0)
    assert shown["status"] == "active" and shown["paused_reason"] is None
