"""The set check: what the IdP was told against PostgreSQL, ``roster.lifecycle`` and
``roster.users``.

- **lost**: acknowledged creates missing from PostgreSQL, acknowledged deactivations of a user
  still active there;
- **unexpected**: users in PostgreSQL that the IdP never created (not acknowledged, not
  indeterminate: a definitely failed create that happened anyway counts here);
- **duplicates**: a userName stored twice, or a user announced by two different
  ``user.created`` events;
- **lifecycle mismatch**: a stored user whose latest lifecycle event (highest version) does not
  show its stored version and ``active``, or one with no ``user.created``; lifecycle events for a
  user that is not stored;
- **snapshot mismatch**: a stored user whose last ``roster.users`` record is missing or differs
  in version / ``active``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from aiokafka import AIOKafkaConsumer, TopicPartition

from roster_testing.faults.idp import Op


@dataclass
class Verdict:
    acknowledged: int = 0
    failed: int = 0
    indeterminate: int = 0
    stored: int = 0
    lost: int = 0
    unexpected: int = 0
    duplicates: int = 0
    lifecycle_mismatch: int = 0
    snapshot_mismatch: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.unexpected
            or self.duplicates
            or self.lifecycle_mismatch
            or self.snapshot_mismatch
        )


async def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every (key, value) of ``topic``, in offset order per partition, as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[bytes | None, bytes | None]] = []
        async with asyncio.timeout(60):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                fetched = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, records in fetched.items():
                    out.extend((r.key, r.value) for r in records if r.offset < ends[tp])
        return out
    finally:
        await consumer.stop()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def stored_users(database_url: str, tenant_ids: list[str] | None) -> list[dict[str, Any]]:
    """The live users of ``tenant_ids`` (of every tenant when None)."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT id, tenant_id, user_name, active, version FROM users"
            " WHERE ($1::text[] IS NULL OR tenant_id = ANY($1::text[])) AND deleted_at IS NULL",
            tenant_ids,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def settled(
    ops: list[Op], database_url: str, tenant_ids: list[str], bootstrap: str, prefix: str
) -> Verdict:
    """The verdict once the outbox has drained (polled until the topics agree with the
    database, at most ~90 s: a mismatch that remains is reported)."""
    verdict = Verdict()
    for _ in range(30):
        verdict = await check(ops, database_url, tenant_ids, bootstrap, prefix)
        if verdict.lifecycle_mismatch == 0 and verdict.snapshot_mismatch == 0:
            break
        await asyncio.sleep(3)
    return verdict


async def check(
    ops: list[Op], database_url: str, tenant_ids: list[str], bootstrap: str, prefix: str
) -> Verdict:
    v = Verdict()
    creates = [op for op in ops if op.kind == "create"]
    for op in ops:
        setattr(v, op.outcome, getattr(v, op.outcome) + 1)
    rows = await stored_users(database_url, tenant_ids)
    v.stored = len(rows)
    by_name = Counter(r["user_name"] for r in rows)
    row_of = {r["user_name"]: r for r in rows}
    acked = {op.user_name for op in creates if op.outcome == "acknowledged"}
    maybe = {op.user_name for op in creates if op.outcome == "indeterminate"}

    def note(text: str) -> None:
        if len(v.examples) < 8:
            v.examples.append(text)

    for op in ops:
        if op.outcome == "failed":
            note(f"failed {op.kind} {op.user_name}: answers {' '.join(op.statuses)}")
    for name in sorted(acked - set(row_of)):
        v.lost += 1
        note(f"lost create {name}")
    for op in ops:
        if op.kind == "deactivate" and op.outcome == "acknowledged":
            row = row_of.get(op.user_name)
            if row is not None and row["active"]:
                v.lost += 1
                note(f"lost deactivation {op.user_name}")
    for name in sorted(set(row_of) - acked - maybe):
        v.unexpected += 1
        note(f"unexpected user {name}")
    v.duplicates = sum(n - 1 for n in by_name.values() if n > 1)

    lifecycle = await read_topic(bootstrap, prefix + "roster.lifecycle")
    created_ids: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, tuple[int, bool]] = {}
    for _key, value in lifecycle:
        if value is None:
            continue
        event = json.loads(value)
        if not str(event.get("type", "")).startswith("user."):
            continue
        user = event["data"]["user"]
        if user["tenant_id"] not in tenant_ids:
            continue
        if event["type"] == "user.created":
            created_ids[user["id"]].add(event["event_id"])
        if user["version"] >= latest.get(user["id"], (0, True))[0]:
            latest[user["id"]] = (user["version"], user["active"])
    ids = {r["id"]: r for r in rows}
    for user_id, events in created_ids.items():
        if len(events) > 1:
            v.duplicates += 1
            note(f"user {user_id} created by {len(events)} events")
    for user_id, row in ids.items():
        if not created_ids.get(user_id) or latest.get(user_id) != (row["version"], row["active"]):
            v.lifecycle_mismatch += 1
            note(f"lifecycle of {row['user_name']}: {latest.get(user_id)} vs stored")
    for user_id in set(latest) - set(ids):
        v.lifecycle_mismatch += 1
        note(f"lifecycle events for unknown user {user_id}")

    snapshots: dict[str, bytes | None] = {}
    for key, value in await read_topic(bootstrap, prefix + "roster.users"):
        if key is not None:
            snapshots[key.decode()] = value
    for user_id, row in ids.items():
        value = snapshots.get(f"{row['tenant_id']}:{user_id}")
        snap = json.loads(value) if value else None
        if snap is None or (snap["version"], snap["active"]) != (row["version"], row["active"]):
            v.snapshot_mismatch += 1
            note(f"snapshot of {row['user_name']} differs")
    return v
