"""The outbox relay on PostgreSQL and Kafka: two relays on one database (two user-store
instances) publish every pending row exactly once, each key's rows in id order, and leave the
outbox empty — the advisory lock is the relay transaction's, so they never publish the same rows
concurrently."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict

import sqlalchemy as sa
from roster_shared.bus.base import Record
from roster_shared.bus.kafka import KafkaBus
from roster_shared.topics import TopicSpec
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.bulk_rows import insert_rows
from user_store.db import session_factory
from user_store.outbox import OutboxRelay, outbox_values
from user_store.tables import OutboxRow

OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]


async def test_two_relays_publish_each_row_once_in_id_order(
    engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    keys = [f"tenant-{n}" for n in range(5)]
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        rows = [
            outbox_values(
                Record(
                    topic=topic,
                    key=keys[i % len(keys)],
                    value=json.dumps({"seq": i}).encode(),
                    headers=(("content-type", b"application/json"),),
                )
            )
            for i in range(600)
        ]
        await insert_rows(session, [(OUTBOX, rows)])
    buses = [KafkaBus(kafka_bootstrap, client_id=f"relay-{n}") for n in range(2)]
    for bus in buses:
        await bus.start()
    try:
        await buses[0].ensure_topics([TopicSpec(topic, 3)])
        # Small batches, so the two relays' cycles interleave many times over the rows.
        relays = [OutboxRelay(sessions, bus, batch=25) for bus in buses]
        published = await asyncio.gather(*(relay.publish_pending() for relay in relays))
        # A relay that found the lock taken retries, then leaves what is left to its next
        # cycle: run them again until nothing is pending, as their loops would.
        while sum(published) < 600:
            more = await asyncio.gather(*(relay.publish_pending() for relay in relays))
            assert sum(more) > 0, "rows left pending that no relay publishes"
            published = [a + b for a, b in zip(published, more, strict=True)]
        messages = await buses[0].read(topic, limit=10_000)
    finally:
        for bus in buses:
            await bus.stop()
    assert sum(published) == 600
    seen = [json.loads(m.value or b"")["seq"] for m in messages]
    assert sorted(seen) == list(range(600)), "a row was published twice or not at all"
    by_key: dict[str | None, list[int]] = defaultdict(list)
    for message in messages:
        by_key[message.key].append(json.loads(message.value or b"")["seq"])
        assert message.headers == (("content-type", b"application/json"),)
    for key, sequence in by_key.items():
        assert sequence == sorted(sequence), f"{key}'s rows left the outbox out of id order"
    async with sessions() as session:
        assert (
            await session.execute(sa.select(sa.func.count()).select_from(OUTBOX))
        ).scalar_one() == 0


async def test_the_relay_vacuums_the_outbox_after_every_so_many_deleted_rows(
    engine: AsyncEngine, kafka_bootstrap: str
) -> None:
    """The outbox is a queue: autovacuum's visit once a minute left up to a minute of dead rows
    for every relay cycle to read. The relay vacuums it itself after ``vacuum_every`` deleted
    rows, and not before."""
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    sessions = session_factory(engine)

    async def pending(count: int) -> None:
        async with sessions() as session, session.begin():
            record = Record(topic=topic, key="tenant", value=b"{}", headers=())
            await insert_rows(session, [(OUTBOX, [outbox_values(record)] * count)])

    async def vacuumed() -> int:
        async with engine.connect() as connection:
            count = (
                await connection.execute(
                    sa.text("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'")
                )
            ).scalar_one()
            return int(count)

    bus = KafkaBus(kafka_bootstrap, client_id="relay-vacuum")
    await bus.start()
    try:
        await bus.ensure_topics([TopicSpec(topic, 1)])
        relay = OutboxRelay(sessions, bus, batch=100, vacuum_every=250)
        before = await vacuumed()
        await pending(200)
        assert await relay.publish_pending() == 200
        assert relay.vacuums == 0  # 200 deleted: not yet
        await pending(100)
        assert await relay.publish_pending() == 100
        assert relay.vacuums == 1  # 300 deleted since the start: vacuumed once, count reset
        await pending(200)
        assert await relay.publish_pending() == 200
        assert relay.vacuums == 1  # 200 since the vacuum
    finally:
        await bus.stop()
    # PostgreSQL's own count of the table's vacuums (manual ones included) agrees.
    for _ in range(50):
        if await vacuumed() > before:
            break
        await asyncio.sleep(0.1)
    assert await vacuumed() == before + 1
