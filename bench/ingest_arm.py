"""One arm of ``bench/ingest_throughput.py``: a user-store consuming pre-produced ingest events in
its own process, so that two checkouts (``--before``) can be measured side by side in one run and
either can be profiled alone (py-spy on this process, nothing else in it).

Run by ``ingest_throughput.py`` with the arm's own interpreter (``<checkout>/.venv/bin/python``),
so ``user_store`` is that checkout's. The database is migrated and holds the tenant; the creates
are already on ``<prefix>roster.ingest``. Phase one applies them; with ``--updates`` the service
is stopped, one replace (SCIM PUT: ``target_id``, a changed name and e-mail) per created user is
produced, and a new start applies those. Each phase's clock runs from its first applied batch to
its last event applied, and on to its outbox drained (lifecycle events and snapshots published;
replies leave with each batch), with the process's CPU time over the same span. Prints one JSON
line.

Uses only what both sides of a ``--before`` comparison have: ``UserStoreService``,
``KafkaBus.send_batch``, the ingest contract.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import sqlalchemy as sa
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.events.people import UserAttributes
from roster_shared.topics import Topics
from user_store.db import create_engine
from user_store.service import UserStoreService


def attributes(i: int, *, generation: int = 0) -> UserAttributes:
    """User ``i``'s attributes; a later generation changes its names and e-mail."""
    mark = f"g{generation}" if generation else ""
    return UserAttributes(
        user_name=f"user{i:06d}@example.com",
        external_id=f"ext-{i:06d}",
        given_name=f"Given{i}{mark}",
        family_name=f"Family{i}",
        display_name=f"Given{i}{mark} Family{i}",
        emails=[{"value": f"user{i:06d}{mark}@example.com", "type": "work", "primary": True}],
    )


def make_events(tenant_id: str, count: int) -> list[ingest.UserUpserted]:
    """SCIM creates of ``count`` users; ``tenant_id`` may name several tenants, comma-separated:
    user ``i`` is then the ``i mod n``-th one's (their records on several partitions)."""
    tenant_ids = tenant_id.split(",")
    return [
        ingest.UserUpserted(
            tenant_id=tenant_ids[i % len(tenant_ids)],
            source=Source.SCIM,
            data=ingest.UserUpsertedData(attributes=attributes(i)),
        )
        for i in range(count)
    ]


def make_updates(tenant_id: str, ids: dict[str, str]) -> list[ingest.UserUpserted]:
    """SCIM replaces (PUT) of the users named ``user{i}@…`` -> id, in ``i`` order (each in
    its tenant, as :func:`make_events` spread them)."""
    tenant_ids = tenant_id.split(",")
    events = []
    for i in range(len(ids)):
        target = ids[f"user{i:06d}@example.com"]
        events.append(
            ingest.UserUpserted(
                tenant_id=tenant_ids[i % len(tenant_ids)],
                source=Source.SCIM,
                data=ingest.UserUpsertedData(
                    attributes=attributes(i, generation=1), target_id=target
                ),
            )
        )
    return events


async def send(bus: KafkaBus, topic: str, events: list[ingest.UserUpserted]) -> None:
    for i in range(0, len(events), 2000):
        await bus.send_batch([event_record(topic, e) for e in events[i : i + 2000]])


async def phase(service: UserStoreService, target: int) -> dict[str, Any]:
    """Start, wait until ``target`` events are applied and the outbox is drained, stop."""
    await service.start()
    try:
        start = service.processor.applied
        # Like the raw consumer's clock, the steady rate starts at the first applied batch.
        while service.processor.applied == start:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.002)
        first_at, first = time.perf_counter(), service.processor.applied
        cpu_at = time.process_time()
        while service.processor.applied < target:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.002)
        applied_at = time.perf_counter()
        while await service.relay.publish_pending():
            pass
        drained_at = time.perf_counter()
        cpu = time.process_time() - cpu_at
        counted = target - first
        return {
            "applied_per_second": round(counted / (applied_at - first_at)),
            "applied_and_published_per_second": round(counted / (drained_at - first_at)),
            "counted": counted,
            # The process's CPU per event, applied to published: steadier than the rates on a
            # shared machine (only this process; PostgreSQL's and the broker's are not in it).
            "cpu_ms_per_event": round(1000 * cpu / counted, 3),
        }
    finally:
        await service.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    engine = create_engine(args.database_url)
    topics = Topics(prefix=args.prefix)
    bus = KafkaBus(args.kafka, client_id="bench-arm")
    await bus.start()
    try:
        service = UserStoreService(
            engine,
            bus,
            topics=topics,
            group="bench-user-store",
            max_batch=args.batch,
            migrate_on_start=False,
            relay_interval=0.2,
        )
        result: dict[str, Any] = {"creates": await phase(service, args.events)}
        if args.updates:
            async with engine.connect() as connection:
                rows = await connection.execute(sa.text("SELECT user_name, id FROM users"))
                ids = {name: user_id for name, user_id in rows.all()}
            await send(bus, topics.ingest, make_updates(args.tenant, ids))
            result["updates"] = await phase(service, 2 * args.events)
        result["applied"] = service.processor.applied
        result["dead_lettered"] = service.processor.dead_lettered
        # Batches the fast pass could not apply (absent before the counter existed).
        result["safe_passes"] = getattr(service.processor, "safe_passes", None)
        result["replies_sent"] = service.replies.sent
        result["outbox_published"] = service.relay.published
        return result
    finally:
        await bus.stop()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--tenant", required=True, help="a tenant id, or several comma-separated")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--updates", action="store_true")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))
