"""Benchmark: user-store applied events per second from ``roster.ingest``, against two baselines
measured in the same run on the same machine (issue 2):

* raw aiokafka: a bare consumer reading the same messages (the log's ceiling);
* raw asyncpg: upserting the same rows into an equivalent table, in transactions of the same
  batch size as the user-store's (the database's ceiling).

The broker and database are the tests' (``roster_testing``): an existing one when
``ROSTER_TEST_KAFKA`` / ``ROSTER_TEST_DATABASE_URL`` are set, otherwise started here.

    uv run python bench/ingest_throughput.py [--events 20000] [--batch 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from roster_testing.infra import kafka_service, postgres_service
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key
from user_store.service import UserStoreService


def make_events(tenant_id: str, count: int) -> list[ingest.UserUpserted]:
    return [
        ingest.UserUpserted(
            tenant_id=tenant_id,
            source=Source.SCIM,
            data=ingest.UserUpsertedData(
                attributes={
                    "user_name": f"user{i:06d}@example.com",
                    "external_id": f"ext-{i:06d}",
                    "given_name": f"Given{i}",
                    "family_name": f"Family{i}",
                    "display_name": f"Given{i} Family{i}",
                    "emails": [
                        {"value": f"user{i:06d}@example.com", "type": "work", "primary": True}
                    ],
                }
            ),
        )
        for i in range(count)
    ]


async def produce(bus: KafkaBus, topic: str, events: list[ingest.UserUpserted]) -> float:
    started = time.perf_counter()
    for i in range(0, len(events), 2000):
        await bus.send_batch([event_record(topic, e) for e in events[i : i + 2000]])
    return time.perf_counter() - started


async def raw_consume(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            if started is None and batches:
                started = time.perf_counter()
            for tp, messages in batches.items():
                for message in messages:
                    ingest.INGEST_ADAPTER.validate_json(message.value)  # same decode work
                seen += len(messages)
                await consumer.commit({tp: messages[-1].offset + 1})
        return time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()


async def raw_asyncpg(dsn: str, events: list[ingest.UserUpserted], batch: int) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("""
            CREATE TABLE bench_users (
                id text PRIMARY KEY, tenant_id text NOT NULL, user_name text NOT NULL,
                user_name_key text NOT NULL, external_id text, active boolean NOT NULL,
                display_name text, given_name text, family_name text, emails jsonb NOT NULL,
                version int NOT NULL, created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, UNIQUE (tenant_id, user_name_key))""")
        statement = """
            INSERT INTO bench_users VALUES ($1,$2,$3,$4,$5,true,$6,$7,$8,$9,1,now(),now())
            ON CONFLICT (tenant_id, user_name_key) DO UPDATE SET
              external_id = excluded.external_id, display_name = excluded.display_name,
              given_name = excluded.given_name, family_name = excluded.family_name,
              emails = excluded.emails, version = bench_users.version + 1,
              updated_at = now()"""
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            rows = []
            for event in events[i : i + batch]:
                a = event.data.attributes
                rows.append(
                    (
                        str(uuid.uuid4()),
                        event.tenant_id,
                        a.user_name,
                        name_key(a.user_name),
                        a.external_id,
                        a.display_name,
                        a.given_name,
                        a.family_name,
                        json.dumps([e.model_dump() for e in a.emails]),
                    )
                )
            async with connection.transaction():
                await connection.executemany(statement, rows)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def user_store(
    url: str, bus: KafkaBus, topics: Topics, count: int, batch: int
) -> tuple[float, dict[str, Any]]:
    engine = create_engine(url)
    service = UserStoreService(
        engine,
        bus,
        topics=topics,
        group="bench-user-store",
        max_batch=batch,
        migrate_on_start=False,
        relay_interval=0.2,
    )
    started = time.perf_counter()
    await service.start()
    try:
        # Like the raw consumer's clock, the steady rate starts at the first applied batch.
        while service.processor.applied == 0:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.005)
        first_at, first_count = time.perf_counter(), service.processor.applied
        while service.processor.applied < count:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.005)
        applied_at = time.perf_counter()
        while await service.relay.publish_pending():
            pass
        drained_at = time.perf_counter()
        return (count - first_count) / (applied_at - first_at), {
            "applied": service.processor.applied,
            # The measure: applied *and* their lifecycle events and snapshots published
            # (the replies leave with each batch, before it counts as applied).
            "applied_and_published_per_second": round(
                (count - first_count) / (drained_at - first_at)
            ),
            "replies_sent": service.replies.sent,
            "outbox_published": service.relay.published,
            "seconds_from_start_to_all_applied": round(applied_at - started, 2),
            "seconds_from_start_to_outbox_drained": round(drained_at - started, 2),
        }
    finally:
        await service.stop()
        await engine.dispose()


async def main(events_count: int, batch: int) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}")
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        engine = create_engine(url)
        await migrate(engine)
        async with session_factory(engine)() as session, session.begin():
            tenant = await tenants.create_tenant(session, "bench", ProvisioningMode.SCIM_JIT)
        await engine.dispose()

        topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}.")
        bus = KafkaBus(kafka.bootstrap, client_id="bench")
        await bus.start()
        try:
            await bus.ensure_topics(topics.specs(12))
            events = make_events(tenant.id, events_count)
            produce_s = await produce(bus, topics.ingest, events)
            consume_s = await raw_consume(kafka.bootstrap, topics.ingest, events_count)
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            asyncpg_s = await raw_asyncpg(dsn, events, batch)
            store_rate, details = await user_store(url, bus, topics, events_count, batch)
        finally:
            await bus.stop()

    rate = {
        name: events_count / seconds
        for name, seconds in (
            ("produce", produce_s),
            ("raw_aiokafka_consume", consume_s),
            ("raw_asyncpg_upsert", asyncpg_s),
        )
    }
    rate["user_store_apply"] = store_rate
    result = {
        "events": events_count,
        "batch": batch,
        "per_second": {k: round(v) for k, v in rate.items()},
        "ratio_vs_raw_aiokafka": round(rate["user_store_apply"] / rate["raw_aiokafka_consume"], 4),
        "ratio_vs_raw_asyncpg": round(rate["user_store_apply"] / rate["raw_asyncpg_upsert"], 4),
        "details": details,
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.events, args.batch))
    text = json.dumps(outcome, indent=2)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"ingest_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text + "\n")
