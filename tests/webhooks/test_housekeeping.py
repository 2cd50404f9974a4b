"""Housekeeping keeps the delivery tables bounded: finished deliveries, their attempts and old
events go once past their retention; a pending delivery — here a paused endpoint's backlog —
stays with its attempts and its event, and is delivered when the endpoint resumes.

The pass runs through the real path: the webhooks service's :class:`Housekeeper` asks the
user-store's internal API, which does the deleting (memory+SQLite and Kafka+PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from roster_shared.events.envelope import utcnow
from webhooks.housekeeping import Housekeeper
from webhooks.store import WebhookStore

from tests.downstream.mirror import scim_create
from tests.webhooks.stack import HookStack, Receiver


async def _attempts(stack: HookStack, tenant, endpoint: str, count: int):  # type: ignore[no-untyped-def]
    """The endpoint's attempts once at least ``count`` are recorded."""
    deadline = asyncio.get_running_loop().time() + 60
    while len(found := await stack.attempts(tenant, endpoint)) < count:
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.05)
    return found


async def test_old_finished_rows_go_and_pending_ones_stay(
    stack: HookStack, hooks: Receiver
) -> None:
    acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
    ok, ok_secret = await stack.endpoint(acme, hooks.url("ok", "a"))
    down, down_secret = await stack.endpoint(globex, hooks.url("down", "g"))
    await hooks.trust("a", ok_secret)
    await hooks.trust("g", down_secret)
    await scim_create(acme, "ada")
    await scim_create(acme, "bob")
    await scim_create(globex, "cyd")
    await hooks.wait("a", 2)
    assert len(await _attempts(stack, acme, ok, 2)) == 2
    deadline = asyncio.get_running_loop().time() + 60
    while (shown := await stack.show(globex, down))["status"] != "paused":  # retry_for: 4 s
        assert asyncio.get_running_loop().time() < deadline, shown
        await asyncio.sleep(0.1)
    assert shown["pending"] == 1
    failed_attempts = len(await stack.attempts(globex, down))
    assert failed_attempts >= 1

    store = WebhookStore(stack.url, token=stack.internal_token, timeout=30)
    await store.start()
    try:
        keeper = Housekeeper(
            store,
            delivery_retention=timedelta(days=14),
            event_retention=timedelta(days=30),
            interval=3600,
            clock=utcnow,
        )
        # Within the retention nothing goes.
        assert await keeper.run_once() == {"deliveries": 0, "attempts": 0, "events": 0}
        assert len(await stack.attempts(acme, ok)) == 2
        # Past it: acme's two delivered deliveries, their attempts and events go ...
        later = utcnow() + timedelta(days=31)
        assert await keeper.run_once(later) == {"deliveries": 2, "attempts": 2, "events": 2}
        assert await keeper.run_once(later) == {"deliveries": 0, "attempts": 0, "events": 0}
    finally:
        await store.close()
    assert await stack.attempts(acme, ok) == []
    status, body = await stack.admin(
        "POST", f"acme/endpoints/{ok}/replay", {"since": "2000-01-01T00:00:00Z"}
    )
    assert (status, body) == (202, {"replayed": 0})  # the events are gone too

    # ... while globex's paused backlog stays: the delivery, its attempts, its event.
    shown = await stack.show(globex, down)
    assert shown["status"] == "paused" and shown["pending"] == 1
    assert len(await stack.attempts(globex, down)) == failed_attempts
    await hooks.heal("g")
    status, body = await stack.admin("POST", f"globex/endpoints/{down}/resume")
    assert status == 200, body
    messages = await hooks.wait("g", 1)
    assert [m["user_name"] for m in messages if m["status"] == 204] == ["cyd@example.com"]
