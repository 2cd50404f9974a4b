"""Benchmark: the reconciler on a 100,000-user tenant against a stand-in directory (issue 5),
with baselines measured in the same run on the same machine (alternately, best of 3):

* scan: the reconciler reading every user through the user-store's internal API (cursor paging)
  against a raw asyncpg cursor over the same rows;
* emit: publishing 10,000 ``UserDeactivated`` events through the bus (``KafkaBus.send_batch``,
  idempotent, ``acks=all``) against a raw aiokafka producer sending the same bytes with the same
  settings;
* the whole run: directory snapshot (Microsoft Graph stand-in, 999 per page) + scan + decisions
  + publishing, with 10% of the directory disabled.

The users are seeded straight into PostgreSQL with COPY (the bench is not measuring ingestion).
The broker and database are the tests' (``roster_testing``).

    uv run python bench/reconcile_throughput.py [--users 100000] [--deactivate 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaProducer
from reconciler.credentials import Vault, new_key
from reconciler.lease import Lease
from reconciler.policy import DIRECTORY_SECTION, POLICY_SECTION, DirectoryConfig
from reconciler.publishing import event_for
from reconciler.records import Action
from reconciler.runs import Reconciler
from reconciler.store import StateStore
from roster_cli import compose
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events.codec import event_record
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics, TopicSpec
from roster_shared.userstore_client import UserStoreClient
from roster_testing.directories import DirectoryStandIn, Person
from roster_testing.infra import kafka_service, postgres_service
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key

TOKEN = "bench-token"
ROUNDS = 3  # scan and emit are measured alternately against their baselines, best of 3


async def seed(dsn: str, tenant_id: str, count: int) -> None:
    """``count`` JIT users, as logins would have made them (COPY, not the ingest path)."""
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        name = f"user{i:06d}@example.com"
        rows.append(
            (
                str(uuid.uuid4()),
                tenant_id,
                name,
                name_key(name),
                None,
                True,
                f"User {i}",
                "User",
                str(i),
                json.dumps([{"value": name, "type": "work", "primary": True}]),
                "{}",
                "jit",
                False,
                1,
                now - timedelta(seconds=count - i),
                now,
                now,
            )
        )
    connection = await asyncpg.connect(dsn)
    try:
        await connection.copy_records_to_table(
            "users",
            records=rows,
            columns=[
                "id",
                "tenant_id",
                "user_name",
                "user_name_key",
                "external_id",
                "active",
                "display_name",
                "given_name",
                "family_name",
                "emails",
                "extra",
                "origin",
                "scim_managed",
                "version",
                "created_at",
                "updated_at",
                "last_login_at",
            ],
        )
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()


async def raw_scan(dsn: str, tenant_id: str) -> tuple[float, int]:
    """The same rows through a raw asyncpg cursor, in the internal API's order."""
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        seen = 0
        async with connection.transaction():
            async for _row in connection.cursor(
                "SELECT * FROM users WHERE tenant_id = $1 AND deleted_at IS NULL "
                "ORDER BY created_at, id",
                tenant_id,
                prefetch=1000,
            ):
                seen += 1
        return time.perf_counter() - started, seen
    finally:
        await connection.close()


async def raw_produce(bootstrap: str, topic: str, records: list[Any]) -> float:
    """The same records with a bare aiokafka producer (idempotent, acks=all, same linger)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic, key=r.key.encode(), value=r.value, headers=list(r.headers))
            for r in records
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def main(users: int, deactivate: int) -> dict[str, Any]:
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}")
        url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        engine = create_engine(url)
        await migrate(engine)
        async with session_factory(engine)() as session, session.begin():
            tenant = await tenants.create_tenant(session, "bench", ProvisioningMode.JIT)
        await engine.dispose()
        started = time.perf_counter()
        await seed(dsn, tenant.id, users)
        print(f"seeded {users} users in {time.perf_counter() - started:.1f}s")

        topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}.")
        bus = KafkaBus(kafka.bootstrap, client_id="bench-reconciler")
        await bus.start()
        people = [Person(f"dir-{i}", f"user{i:06d}@example.com") for i in range(users)]
        for person in people[:: max(1, users // deactivate)][:deactivate]:
            person.status = "disabled"
        directory = DirectoryStandIn(people, token=TOKEN)
        api = compose.user_store(
            compose.Wiring(database_url=url, self_url="", admin_token="bench"),
            bus=bus,
            engine=create_engine(url),
            consume=False,
        )
        server = TestServer(api, host="127.0.0.1")
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        client = UserStoreClient(base, timeout=120)
        store = StateStore(base, timeout=120)
        await client.start()
        await store.start()
        vault = Vault(new_key())
        try:
            # the raw baseline's topic, made up front like the bus's own
            await bus.ensure_topics([*topics.specs(12), TopicSpec(topics.prefix + "raw", 12)])
            async with directory.running():
                config = DirectoryConfig(
                    kind="graph", url=directory.base("graph"), token=vault.encrypt(TOKEN)
                )
                await store.put_settings(tenant.id, DIRECTORY_SECTION, config.model_dump())
                await store.put_settings(
                    tenant.id, POLICY_SECTION, {"brake_count": 10 * users, "brake_share": 1.0}
                )
                reconciler = Reconciler(
                    client, store, bus, vault=vault, topics=topics, lease_ttl=300
                )

                # scan: the internal API against a raw cursor, same rows; alternated, best of 3
                api_scans, raw_scans = [], []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    scanned = await reconciler.members(tenant.id)
                    api_scans.append(time.perf_counter() - started)
                    raw_s, raw_rows = await raw_scan(dsn, tenant.id)
                    raw_scans.append(raw_s)
                    assert len(scanned) == raw_rows == users
                api_scan_s, raw_scan_s = min(api_scans), min(raw_scans)

                # directory snapshot on its own
                started = time.perf_counter()
                snapshot = await reconciler.snapshot(config)
                snapshot_s = time.perf_counter() - started

                # emit: 10,000 deactivations through the bus against raw aiokafka
                actions = [
                    Action(
                        user_id=u.id,
                        user_name=u.user_name,
                        action="deactivate",
                        signal="directory",
                        reason="directory (graph): accountEnabled=false",
                    )
                    for u in scanned[:deactivate]
                ]
                lease = Lease(store, tenant, reconciler.instance, 300)
                emits, raw_emits = [], []
                for _ in range(ROUNDS):
                    pairs = [(a, event_for(tenant, "bench", a)) for a in actions]
                    await store.acquire(tenant.id, reconciler.instance, 300)
                    started = time.perf_counter()
                    await reconciler._publish(lease, pairs)
                    emits.append(time.perf_counter() - started)
                    await store.release(tenant.id, reconciler.instance)
                    records = [event_record(topics.prefix + "raw", e) for _, e in pairs]
                    raw_emits.append(
                        await raw_produce(kafka.bootstrap, topics.prefix + "raw", records)
                    )
                emit_s, raw_emit_s = min(emits), min(raw_emits)

                # the whole run (dry run: the same work short of publishing), then a real one
                started = time.perf_counter()
                dry = await reconciler.run(tenant.slug, dry_run=True)
                dry_run_s = time.perf_counter() - started
                started = time.perf_counter()
                real = await reconciler.run(tenant.slug)
                run_s = time.perf_counter() - started
        finally:
            await client.close()
            await store.close()
            await server.close()
            await bus.stop()

    return {
        "users": users,
        "directory": {"kind": "graph", "listed": len(snapshot.users), "pages": snapshot.pages},
        "rounds": ROUNDS,
        "scan": {
            "read_api_seconds": round(api_scan_s, 3),
            "read_api_users_per_second": round(users / api_scan_s),
            "raw_asyncpg_cursor_seconds": round(raw_scan_s, 3),
            "raw_asyncpg_rows_per_second": round(users / raw_scan_s),
            "ratio_vs_raw": round(raw_scan_s / api_scan_s, 4),
        },
        "directory_snapshot": {
            "seconds": round(snapshot_s, 3),
            "users_per_second": round(len(snapshot.users) / snapshot_s),
        },
        "emit": {
            "events": deactivate,
            "bus_seconds": round(emit_s, 3),
            "bus_events_per_second": round(deactivate / emit_s),
            "raw_aiokafka_seconds": round(raw_emit_s, 3),
            "raw_aiokafka_events_per_second": round(deactivate / raw_emit_s),
            "ratio_vs_raw": round(raw_emit_s / emit_s, 4),
        },
        "run": {
            "dry_run_seconds": round(dry_run_s, 3),
            "dry_run_actions": len(dry.actions),
            "run_seconds": round(run_s, 3),
            "run_status": real.status,
            "run_published": real.published,
            "users_per_second": round(users / run_s),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--deactivate", type=int, default=10_000)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.users, args.deactivate))
    text = json.dumps(outcome, indent=2)
    print(text)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"reconcile_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text + "\n")
