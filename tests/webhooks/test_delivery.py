"""Webhooks end to end: SCIM changes → user-store → roster.lifecycle → webhooks service → a
receiver process that verifies every signature with the ``standardwebhooks`` package. On the
embedded pairing and on Kafka + PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from tests.downstream.mirror import scim_create, scim_patch
from tests.scim.stack import Tenant
from tests.webhooks.stack import HookStack, Receiver


async def _user_with_changes(tenant: Tenant, name: str, changes: int) -> str:
    user_id = await scim_create(tenant, name)
    for i in range(changes):
        await scim_patch(
            tenant, user_id, [{"op": "replace", "path": "displayName", "value": f"{name} {i}"}]
        )
    return user_id


async def test_each_user_s_events_arrive_signed_and_in_order_users_concurrently(
    stack: HookStack, hooks: Receiver
) -> None:
    acme = await stack.tenant("acme")
    _, secret = await stack.endpoint(acme, hooks.url("ok", "orders"))
    await hooks.trust("orders", secret)
    users = 8
    changes = 3
    await asyncio.gather(*(_user_with_changes(acme, f"u{i}", changes) for i in range(users)))
    messages = await hooks.wait("orders", users * (1 + changes))
    assert all(m["verified"] and m["status"] == 204 for m in messages), messages
    per_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        per_user[message["user_id"]].append(message)
    assert len(per_user) == users
    for received in per_user.values():
        assert received[0]["type"] == "user.created"
        versions = [m["version"] for m in received]
        assert versions == sorted(versions) == list(range(1, changes + 2)), received
    assert all(m["webhook_id"] == m["event_id"] for m in messages)
    # Several users' deliveries were in flight at once.
    assert (await hooks.log("orders"))["max_inflight"] > 1
