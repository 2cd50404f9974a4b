"""Poison on ``roster.ingest`` (issue 12): one bad record never stops a partition or the consumer.

Each kind the fault run found — a NUL in ``userName``, a 100-character event id, a key that is not
UTF-8 — and the kinds that already worked (malformed JSON, a JSON array, an unknown type) are
published straight to the topic among valid traffic of several tenants. Each must be in the DLQ
with its reason, kind, partition and offset; the valid event sent after it on the same key (same
partition) must be applied; no partition may ever have been held back (no batch failed, so no
backoff happened anywhere); and the consumer must be alive and ``/readyz`` ready.

On PostgreSQL, records the contract accepts but the database refuses are covered too, with CHECK
constraints the test adds: one refused in the ``users`` insert, one in the ``processed_events``
insert (which used to run outside the per-event savepoints and fail the batch for ever).

Then readiness: it turns not ready while a partition cannot move (a table the consumer needs is
gone: an infrastructure fault, retried, never dead-lettered) and ready again once it moves; not
ready while the consumer is stopped, ready once it is started again; and at once, for good, when
the consumer loop dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from roster_shared.bus.base import Bus, Record
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import EnvelopeBase
from roster_shared.events.replies import Reply
from roster_shared.service import FATAL
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import tenants
from user_store.app import SERVICE, create_app
from user_store.db import create_engine, session_factory
from user_store.service import UserStoreService
from user_store.settings import UserStoreSettings

from tests.integration.harness import Collector, scim_user

PAIRINGS = ["kafka-postgres", "memory-sqlite"]


class World:
    """A user-store application served over HTTP on a real bus and database."""

    def __init__(
        self,
        kind: str,
        bus: Bus,
        engine: AsyncEngine,
        topics: Topics,
        client: TestClient,
        app: web.Application,
    ) -> None:
        self.kind = kind
        self.bus = bus
        self.engine = engine
        self.topics = topics
        self.client = client
        self.app = app
        self.sessions = session_factory(engine)
        self.requester = Requester(bus, topic=topics.replies)

    @property
    def service(self) -> UserStoreService:
        return self.app[SERVICE]

    async def tenant(self) -> TenantInfo:
        async with self.sessions() as session, session.begin():
            return await tenants.create_tenant(
                session, f"t{uuid.uuid4().hex[:8]}", ProvisioningMode.SCIM_JIT
            )

    async def send(self, event: EnvelopeBase) -> Reply:
        record = event_record(self.topics.ingest, event)
        return await self.requester.request(record, event.event_id, timeout=30)

    async def raw(self, key: str, value: bytes) -> None:
        await self.bus.send(Record(self.topics.ingest, key, value))

    async def ready(self) -> tuple[int, Any]:
        response = await self.client.get("/readyz")
        return response.status, await response.json()

    async def until_caught_up(self, timeout: float = 30) -> None:
        try:
            async with asyncio.timeout(timeout):
                while any(p.lag for p in self.service.progress()):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"still lagging: {self.service.progress()}") from None

    async def until_ready(self, want: bool, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while (await self.ready())[0] != (200 if want else 503):
                await asyncio.sleep(0.1)


@pytest.fixture(params=PAIRINGS)
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    kind = request.param
    bus: Bus
    if kind == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        database = request.getfixturevalue("fresh_database_url")
        engine = create_engine(database)
        bus = KafkaBus(
            request.getfixturevalue("kafka_bootstrap"),
            client_id="test-poison",
            retry_backoff=(0.1, 1.0),
        )
    else:
        database = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
        engine = create_engine(database)
        bus = MemoryBus(retry_backoff=0.1)
    prefix = topic_prefix("p")
    settings = UserStoreSettings(
        database_url=database,
        admin_token="admin-token",
        topic_prefix=prefix,
        topic_partitions=4,
        stall_after=1.0,
    )
    await bus.start()
    app = create_app(settings, bus=bus, engine=engine)
    client = TestClient(TestServer(app))
    await client.start_server()
    world = World(kind, bus, engine, Topics(prefix), client, app)
    await world.requester.start()
    try:
        yield world
    finally:
        await world.requester.stop()
        await client.close()
        await bus.stop()
        await engine.dispose()


def _upsert(tenant: TenantInfo, user_name: str, **envelope: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": "user.upserted",
        "tenant_id": tenant.id,
        "source": "scim",
        "data": {"attributes": {"user_name": user_name}},
        **envelope,
    }


async def _collect(world: World, topic: str) -> Collector:
    collector = Collector()
    subscription = world.bus.subscribe(f"test-{uuid.uuid4().hex[:8]}", [topic], collector)
    await subscription.start()
    return collector


async def test_poison_goes_to_the_dlq_and_every_partition_moves_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="roster_shared.bus")
    dlq = await _collect(world, world.topics.dlq)
    expected: dict[str, str] = {}  # a marker in the poison -> the reason's words

    async def poison(tenant: TenantInfo, value: bytes, marker: str, why: str) -> None:
        await world.raw(tenant.id, value)
        expected[marker] = why

    population = [await world.tenant() for _ in range(8)]
    for tenant in population:  # valid traffic before
        assert (await world.send(scim_user(tenant, f"before-{tenant.slug}@example.com"))).ok

    a, b, c, d, e, f, g, h = population
    nul = _upsert(a, "poison-nul\u0000@example.com")
    await poison(a, json.dumps(nul).encode(), "poison-nul", "U+0000")
    long_id = _upsert(b, "poison-long-id@example.com", event_id="e" * 100)
    await poison(b, json.dumps(long_id).encode(), "poison-long-id", "event_id")
    await poison(c, b"{not json", "{not json", "invalid event")
    await poison(d, b"[1, 2]", "[1, 2]", "invalid event")
    exploded = {**_upsert(e, "poison-type@example.com"), "type": "user.exploded"}
    await poison(e, json.dumps(exploded).encode(), "poison-type", "invalid event")
    extra = _upsert(f, "poison-extra@example.com")
    extra["data"]["attributes"]["extra"] = {"title": "boss\u0000"}
    await poison(f, json.dumps(extra).encode(), "poison-extra", "U+0000")
    if world.kind == "kafka-postgres":
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=world.bus.bootstrap)  # type: ignore[attr-defined]
        await producer.start()
        try:
            value = json.dumps(_upsert(g, "badkey@example.com")).encode()
            await producer.send_and_wait(
                world.topics.ingest, value, key=b"\xff\xfe" + g.id.encode()
            )
        finally:
            await producer.stop()
        expected["badkey@example.com"] = "not UTF-8"
        # Accepted by the contract, refused by the database (CHECK constraints added here):
        # in the users insert, and in the processed_events insert.
        async with world.engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "ALTER TABLE users ADD CONSTRAINT test_poison "
                    "CHECK (user_name NOT LIKE 'db-poison%')"
                )
            )
            await connection.execute(
                sa.text(
                    "ALTER TABLE processed_events ADD CONSTRAINT test_poison_reply "
                    "CHECK (reply NOT LIKE '%processed-poison%')"
                )
            )
        refused = await world.send(scim_user(h, "db-poison@example.com"))
        assert refused.error is not None and "could not be applied" in refused.error.detail
        expected["db-poison@example.com"] = "CheckViolation"
        refused = await world.send(scim_user(h, "processed-poison@example.com"))
        assert refused.error is not None, refused
        expected["processed-poison@example.com"] = "CheckViolation"

    # Valid traffic after: the event after each poison on its key (same partition) is applied.
    for tenant in population:
        reply = await world.send(scim_user(tenant, f"after-{tenant.slug}@example.com"))
        assert reply.ok, reply.error

    await dlq.wait_for(lambda c: len(c.messages) >= len(expected))
    letters = [json.loads(m.value) for m in dlq.messages if m.value]
    assert len(letters) == len(expected), letters
    for marker, why in expected.items():
        [letter] = [x for x in letters if marker in (x["value"] or "")]
        assert why in letter["reason"], letter
        assert letter["kind"] in {"invalid", "undecodable_key", "database"}, letter
        assert letter["topic"] == world.topics.ingest
        assert isinstance(letter["partition"], int) and isinstance(letter["offset"], int)
    assert len({(x["partition"], x["offset"]) for x in letters}) == len(letters)
    assert all(m.header("reason") for m in dlq.messages)
    keyless = [x for x in letters if x["key_base64"]]
    if world.kind == "kafka-postgres":
        assert keyless and keyless[0]["kind"] == "undecodable_key"

    # No batch ever failed, so no partition was ever held back by a backoff.
    failures = [r for r in caplog.records if "will be redelivered" in r.getMessage()]
    assert failures == [], [r.getMessage() for r in failures]
    assert world.service.running
    status, body = await world.ready()
    assert status == 200, body
    # Replies go out right after the commit, before the consumer's position moves past the
    # batch, so the last "after" reply can arrive a moment before the lag reads 0.
    await world.until_caught_up()
    metrics = await (await world.client.get("/metrics")).text()
    assert "roster_user_store_dlq_records_total" in metrics
    assert 'roster_user_store_consumer_lag{partition="0"' in metrics


async def test_readiness_follows_the_consumer(world: World) -> None:
    tenant = await world.tenant()
    assert (await world.send(scim_user(tenant, "first@example.com"))).ok
    await world.until_ready(True)

    # Stopped: not ready; started again: ready.
    await world.service.stop()
    status, _ = await world.ready()
    assert status == 503
    await world.service.start()
    await world.until_ready(True)
    assert (await world.send(scim_user(tenant, "second@example.com"))).ok

    if world.kind == "kafka-postgres":
        # A partition that cannot move (a table the consumer needs is gone: infrastructure,
        # retried, never dead-lettered) turns readiness off once it has waited stall_after...
        async with world.engine.begin() as connection:
            await connection.execute(sa.text("ALTER TABLE processed_events RENAME TO pe_gone"))
        stuck = scim_user(tenant, "stuck@example.com")
        pending = asyncio.ensure_future(world.send(stuck))
        await world.until_ready(False)
        # ...and back on once it moves: the waiting event is applied, not lost.
        async with world.engine.begin() as connection:
            await connection.execute(sa.text("ALTER TABLE pe_gone RENAME TO processed_events"))
        assert (await pending).ok
        await world.until_ready(True)

    # The loop dying (a bug) is fatal: not ready at once, and for good.
    subscription = world.service._subscription
    assert subscription is not None
    fatal = world.app[FATAL]
    told: list[str] = []
    fatal.handlers.append(told.append)
    subscription._task.cancel()  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        while not told:
            await asyncio.sleep(0.05)
    status, _ = await world.ready()
    assert status == 503 and fatal.reason == told[0]
