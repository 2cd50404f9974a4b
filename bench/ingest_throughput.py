"""Benchmark: user-store applied events per second from ``roster.ingest``, against three baselines
measured in the same run on the same machine (issue 10), rounds interleaved:

* raw aiokafka consume: a bare consumer reading the same messages (the log's ceiling);
* raw asyncpg batched upsert: the same rows into an equivalent table, one ``executemany`` per
  transaction of the user-store's batch size (the database's ceiling); for ``--updates`` the same
  statement again with the changed rows (its ``ON CONFLICT … DO UPDATE``);
* raw aiokafka produce: the same outgoing messages the user-store published (lifecycle events,
  ``roster.users`` snapshots and replies, read back from its topics), sent by a bare
  ``acks=all`` producer.

The user-store runs as its own process (``bench/ingest_arm.py``): creates, and with ``--updates``
a replace of every created user. ``--before`` runs another checkout's user-store the same way,
beside this one in every round (arms alternate who goes first) — the path of its ``roster`` (or
``python``) as ``bench/compare.py`` takes it. ``--profile DIR`` records each arm with py-spy
(``DIR/<arm>-<round>.txt``, raw; summarise with ``bench/profile_summary.py``).

The broker and database are the tests' (``roster_testing``): an existing one when
``ROSTER_TEST_KAFKA`` / ``ROSTER_TEST_DATABASE_URL`` are set, otherwise started here.

    uv run python bench/ingest_throughput.py [--events 10000] [--updates] [--rounds 2] \
        [--before ../before/.venv/bin/roster] [--profile /tmp/prof]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import machine
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from ingest_arm import attributes, make_events, send
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events import ingest
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from roster_testing.infra import kafka_service, postgres_service
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.identity import name_key

HERE = Path(__file__).parent
Message = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


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
        return count / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        await consumer.stop()


async def raw_upsert(
    dsn: str, tenant_id: str, count: int, batch: int, updates: bool
) -> list[float]:
    """Rows per second of the creates (and of the updates: the same statement, conflicting)."""
    connection = await asyncpg.connect(dsn)
    table = f"bench_users_{uuid.uuid4().hex[:6]}"
    try:
        await connection.execute(f"""
            CREATE TABLE {table} (
                id text PRIMARY KEY, tenant_id text NOT NULL, user_name text NOT NULL,
                user_name_key text NOT NULL, external_id text, active boolean NOT NULL,
                display_name text, given_name text, family_name text, emails jsonb NOT NULL,
                version int NOT NULL, created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL, UNIQUE (tenant_id, user_name_key))""")
        statement = f"""
            INSERT INTO {table} VALUES ($1,$2,$3,$4,$5,true,$6,$7,$8,$9,1,now(),now())
            ON CONFLICT (tenant_id, user_name_key) DO UPDATE SET
              external_id = excluded.external_id, display_name = excluded.display_name,
              given_name = excluded.given_name, family_name = excluded.family_name,
              emails = excluded.emails, version = {table}.version + 1,
              updated_at = now()"""
        rates = []
        for generation in (0, 1) if updates else (0,):
            started = time.perf_counter()
            for start in range(0, count, batch):
                rows = []
                for i in range(start, min(start + batch, count)):
                    a = attributes(i, generation=generation)
                    rows.append(
                        (
                            str(uuid.uuid4()),
                            tenant_id,
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
            rates.append(count / (time.perf_counter() - started))
        return rates
    finally:
        await connection.execute(f"DROP TABLE {table}")
        await connection.close()


async def read_outgoing(bootstrap: str, topics: Topics, count: int) -> list[Message]:
    """Everything the user-store published: its lifecycle events, snapshots and replies."""
    consumer = AIOKafkaConsumer(
        topics.lifecycle,
        topics.users,
        topics.replies,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[Message] = []
        idle = 0
        while len(found) < count and idle < 5:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            idle = 0 if batches else idle + 1
            for messages in batches.values():
                found.extend((m.key, m.value, list(m.headers)) for m in messages)
        return found
    finally:
        await consumer.stop()


async def raw_produce(bootstrap: str, topic: str, messages: list[Message]) -> float:
    """Messages per second a bare ``acks=all`` producer sends the same messages at."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        for i in range(0, len(messages), 2000):
            futures = [
                await producer.send(topic, value=v, key=k, headers=h)
                for k, v, h in messages[i : i + 2000]
            ]
            await asyncio.gather(*futures)
        return len(messages) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def prepare(
    pg: Any, bus: KafkaBus, count: int, tenant_count: int = 1
) -> tuple[str, str, Topics]:
    """A migrated database with the tenants, and their creates produced: (url, tenant ids
    comma-separated, topics)."""
    url = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    engine = create_engine(url)
    await migrate(engine)
    made = []
    async with session_factory(engine)() as session, session.begin():
        for n in range(tenant_count):
            slug = "bench" if tenant_count == 1 else f"bench-{n}"
            made.append(await tenants.create_tenant(session, slug, ProvisioningMode.SCIM_JIT))
    await engine.dispose()
    topics = Topics(prefix=f"bench{uuid.uuid4().hex[:6]}.")
    await bus.ensure_topics(topics.specs(12))
    tenant_ids = ",".join(tenant.id for tenant in made)
    await send(bus, topics.ingest, make_events(tenant_ids, count))
    return url, tenant_ids, topics


def interpreter(path: Path | None) -> str:
    """The Python of a checkout whose ``roster`` (or ``python``) is ``path``; ours when None."""
    if path is None:
        return sys.executable
    return str(path.parent / "python")


async def arm(
    python: str,
    kafka: str,
    url: str,
    tenant: str,
    topics: Topics,
    args: argparse.Namespace,
    profile: Path | None,
) -> dict[str, Any]:
    command = [
        python,
        str(HERE / "ingest_arm.py"),
        "--kafka",
        kafka,
        "--database-url",
        url,
        "--prefix",
        topics.prefix,
        "--tenant",
        tenant,
        "--events",
        str(args.events),
        "--batch",
        str(args.batch),
    ] + (["--updates"] if args.updates else [])
    if profile is not None:
        spy = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")
        command = [
            spy,
            "record",
            "-r",
            "100",
            "--idle",
            "-f",
            "raw",
            "-o",
            str(profile),
            "--",
            *command,
        ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(HERE)}
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"arm {python} failed ({process.returncode})")
    line = [text for text in out.decode().splitlines() if text.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    arms = {"after": interpreter(None)}
    if args.before is not None:
        arms["before"] = interpreter(args.before)
    rounds: list[dict[str, Any]] = []
    with kafka_service(quick_start=False) as kafka, postgres_service() as pg:
        print(f"broker: {kafka.description}\ndatabase: {pg.description}", file=sys.stderr)
        bus = KafkaBus(kafka.bootstrap, client_id="bench")
        await bus.start()
        try:
            for n in range(args.rounds):
                row: dict[str, Any] = {"load": os.getloadavg()[0]}
                order = list(arms) if n % 2 == 0 else list(reversed(arms))
                outgoing: list[Message] = []
                for name in order:
                    url, tenant, topics = await prepare(pg, bus, args.events, args.tenants)
                    profile = args.profile / f"{name}-{n}.txt" if args.profile else None
                    row[name] = await arm(
                        arms[name], kafka.bootstrap, url, tenant, topics, args, profile
                    )
                    if name == "after":
                        outgoing = await read_outgoing(
                            kafka.bootstrap,
                            topics,
                            row[name]["outbox_published"] + row[name]["replies_sent"],
                        )
                    if name == order[0]:
                        row["raw_consume"] = await raw_consume(
                            kafka.bootstrap, topics.ingest, args.events
                        )
                        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
                        row["raw_upsert"] = await raw_upsert(
                            dsn, tenant, args.events, args.batch, args.updates
                        )
                sink = Topics(prefix=f"benchraw{uuid.uuid4().hex[:6]}.")
                await bus.ensure_topics(sink.specs(12))
                row["raw_produce_messages"] = len(outgoing)
                row["raw_produce"] = await raw_produce(kafka.bootstrap, sink.lifecycle, outgoing)
                row["load_after"] = os.getloadavg()[0]
                rounds.append(row)
                print(json.dumps(row), file=sys.stderr)
        finally:
            await bus.stop()
    return {"events": args.events, "batch": args.batch, "rounds": rounds}


def table(result: dict[str, Any], arms: list[str]) -> str:
    """Medians over the rounds, with the ratios to each same-run baseline."""
    rounds = result["rounds"]

    def med(values: list[float]) -> float:
        return statistics.median(values)

    per_event_out = med([r["raw_produce_messages"] / (r["after"]["applied"]) for r in rounds])
    produce = med([r["raw_produce"] for r in rounds]) / per_event_out  # events' worth per second
    consume = med([r["raw_consume"] for r in rounds])
    load = f"{med([r['load'] for r in rounds]):.1f}-{med([r['load_after'] for r in rounds]):.1f}"
    raw_produce = med([r["raw_produce"] for r in rounds])
    lines = [
        f"load average {load}; raw consume {consume:,.0f}/s; raw produce {raw_produce:,.0f}"
        f" msg/s ({per_event_out:.1f} per event: {produce:,.0f} events' worth/s)",
        "| phase | arm | applied /s | + published /s | CPU ms/event "
        "| ÷ raw consume | ÷ raw upsert | ÷ raw produce |",
        "|---|---|---|---|---|---|---|---|",
    ]
    phases = ["creates", "updates"] if "updates" in rounds[0]["after"] else ["creates"]
    for p, phase in enumerate(phases):
        upsert = med([r["raw_upsert"][p] for r in rounds])
        for name in arms:
            applied = med([r[name][phase]["applied_per_second"] for r in rounds])
            published = med([r[name][phase]["applied_and_published_per_second"] for r in rounds])
            cpu = med([r[name][phase].get("cpu_ms_per_event", float("nan")) for r in rounds])
            ratios = [published / base for base in (consume, upsert, produce)]
            lines.append(
                f"| {phase} (raw upsert {upsert:,.0f}/s) | {name} | {applied:,.0f}"
                f" | {published:,.0f} | {cpu:.3f} | "
                + " | ".join(f"{r:.3f}" for r in ratios)
                + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--tenants", type=int, default=1, help="spread the users over this many tenants"
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--updates", action="store_true", help="then replace every created user")
    parser.add_argument("--before", type=Path, help="another checkout's .venv/bin/roster")
    parser.add_argument("--profile", type=Path, help="record each arm with py-spy into DIR")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    probe = machine.probe()  # before anything starts (bench/machine)
    print(f"machine today: {json.dumps(probe)}", flush=True)
    outcome = asyncio.run(main(args))
    outcome["probe"] = probe
    text = json.dumps(outcome, indent=2)
    arms = ["after"] + (["before"] if args.before else [])
    print(table(outcome, arms))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"ingest_throughput-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(text + "\n")
