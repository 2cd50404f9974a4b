"""The consumer kit's rules without a broker: decoding and versions, the tenant filter,
de-duplication by event id, and the guard against events older than the bootstrap snapshot."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from roster_events import (
    SUPPORTED_VERSIONS,
    Dispatcher,
    LifecycleEvent,
    UnsupportedEvent,
    follow_bus,
)
from roster_shared.bus.memory import MemoryBus
from roster_shared.events.codec import event_record
from roster_shared.events.lifecycle import LIFECYCLE_ADAPTER
from roster_shared.events.people import UserSnapshot
from roster_shared.topics import Topics

GOLDEN = Path(__file__).resolve().parents[3] / "shared" / "tests" / "golden"
TENANT = "7f1c3a52-9d7e-4c1e-8d5f-2b0c4e6a8f10"


def golden(name: str, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((GOLDEN / f"lifecycle.{name}.json").read_text())
    raw.update(changes)
    return raw


def user_event(name: str, event_id: str, version: int) -> bytes:
    raw = golden(name, event_id=event_id)
    raw["data"]["user"]["version"] = version
    return json.dumps(raw).encode()


class Recorder:
    def __init__(self) -> None:
        self.events: list[LifecycleEvent] = []
        self.snapshots: list[UserSnapshot] = []
        self.gone: list[str] = []
        self.skipped: list[str] = []
        self.fail_next = 0

    async def on_snapshot(self, user: UserSnapshot) -> None:
        self.snapshots.append(user)

    async def on_gone(self, tenant_id: str, user_id: str) -> None:
        self.gone.append(user_id)

    async def on_event(self, event: LifecycleEvent) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("the app's database is down")
        self.events.append(event)

    async def on_unsupported(self, problem: UnsupportedEvent) -> None:
        self.skipped.append(problem.reason)


def test_every_lifecycle_type_is_known_at_version_1() -> None:
    assert set(SUPPORTED_VERSIONS) == {
        "user.created",
        "user.updated",
        "user.deactivated",
        "user.reactivated",
        "user.deleted",
        "group.created",
        "group.updated",
        "group.deleted",
        "membership.added",
        "membership.removed",
    }
    assert set(SUPPORTED_VERSIONS.values()) == {1}


async def test_an_event_is_handed_over_once_by_its_id() -> None:
    app = Recorder()
    dispatcher = Dispatcher(app, tenant_id=TENANT)
    value = user_event("user.created", "e-1", 1)
    await dispatcher.record(TENANT, value)
    await dispatcher.record(TENANT, value)
    assert [e.event_id for e in app.events] == ["e-1"]
    assert dispatcher.stats.duplicates == 1


async def test_a_failing_handler_leaves_the_event_unremembered_so_it_comes_again() -> None:
    app = Recorder()
    app.fail_next = 1
    dispatcher = Dispatcher(app, tenant_id=TENANT)
    value = user_event("user.created", "e-1", 1)
    with pytest.raises(RuntimeError):
        await dispatcher.record(TENANT, value)
    await dispatcher.record(TENANT, value)
    assert [e.event_id for e in app.events] == ["e-1"]


async def test_other_tenants_events_are_not_handed_over() -> None:
    app = Recorder()
    dispatcher = Dispatcher(app, tenant_id=TENANT)
    await dispatcher.record("another-tenant", user_event("user.created", "e-1", 1))
    assert app.events == [] and dispatcher.stats.other_tenants == 1


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (golden("user.created", type="user.suspended"), "unknown event type 'user.suspended'"),
        (golden("user.created", schema_version=2), "schema_version 2 is newer"),
        (golden("user.created", data={"changed": []}), "does not match its contract"),
        ("[1, 2]", "not a JSON object"),
        ("{", "not JSON"),
    ],
)
async def test_what_cannot_be_decoded_stops_the_consumer_saying_why(
    raw: dict[str, Any] | str, why: str
) -> None:
    value = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    app = Recorder()
    with pytest.raises(UnsupportedEvent, match=why):
        await Dispatcher(app, tenant_id=TENANT).record(TENANT, value)
    skipping = Dispatcher(app, tenant_id=TENANT, skip_unsupported=True)
    await skipping.record(TENANT, value)
    assert app.events == [] and len(app.skipped) == 1 and why in app.skipped[0]


async def test_events_older_than_the_snapshot_are_not_handed_over() -> None:
    app = Recorder()
    dispatcher = Dispatcher(app, tenant_id=TENANT)
    user = golden("user.updated")["data"]["user"]  # version 3
    await dispatcher.snapshot(f"{TENANT}:{user['id']}", json.dumps(user).encode())
    await dispatcher.snapshot(f"{TENANT}:gone-user", None)
    await dispatcher.record(TENANT, user_event("user.created", "old-1", 1))
    await dispatcher.record(TENANT, user_event("user.updated", "old-3", 3))
    await dispatcher.record(TENANT, user_event("user.updated", "new-4", 4))
    await dispatcher.record(TENANT, user_event("user.updated", "old-2", 2))  # past the snapshot
    assert [u.version for u in app.snapshots] == [3] and app.gone == ["gone-user"]
    assert [e.event_id for e in app.events] == ["new-4", "old-2"]
    assert dispatcher.stats.older_than_snapshot == 2


async def test_the_embedded_variant_follows_the_in_process_bus() -> None:
    bus = MemoryBus(retry_backoff=0.01)
    topics = Topics("t.")
    app = Recorder()
    app.fail_next = 1  # the first attempt fails: the bus hands the batch again
    subscription, dispatcher = follow_bus(bus, "app", app, tenant_id=TENANT, topics=topics)
    await subscription.start()
    try:
        for i, name in enumerate(["user.created", "user.updated", "user.deleted"]):
            event = LIFECYCLE_ADAPTER.validate_python(golden(name, event_id=f"b-{i}"))
            await bus.send(event_record(topics.lifecycle, event))
        while dispatcher.stats.events < 3:
            await asyncio.sleep(0.01)
    finally:
        await subscription.stop()
    assert [e.type for e in app.events] == ["user.created", "user.updated", "user.deleted"]
    assert dispatcher.stats.handler_failures == 1
