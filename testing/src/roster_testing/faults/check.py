"""The set check: what the IdP was told against PostgreSQL, ``roster.lifecycle`` and
``roster.users``.

- **lost**: acknowledged creates missing from PostgreSQL (and not deleted by an acknowledged or
  indeterminate delete), acknowledged deactivations of a user still active there, acknowledged
  deletes of a user still there, a ``displayName`` that is not the last acknowledged rename /
  replace (or one of the indeterminate ones after it), a group membership that is not what the
  last acknowledged join / leave made it (or an indeterminate one after it);
- **unexpected**: users in PostgreSQL that the IdP never created (not acknowledged, not
  indeterminate: a definitely failed create that happened anyway counts here), a membership of
  a user the IdP never asked to join;
- **duplicates**: a userName stored twice, a user announced by two different ``user.created``
  events or deleted by two different ``user.deleted`` events, more ``membership.added`` /
  ``.removed`` events for a user than joins / leaves the IdP sent;
- **lifecycle mismatch**: a stored user whose latest lifecycle event (highest version) does not
  show its stored version, ``active`` and ``displayName``, or one with no ``user.created``; a
  deleted user with no ``user.deleted``; lifecycle events for a user that was never stored; a
  membership whose ``membership.added`` events less its ``.removed`` ones is not 1 when
  PostgreSQL has it and 0 when it does not;
- **snapshot mismatch**: a stored user whose last ``roster.users`` record is missing or differs
  in version / ``active`` / ``displayName``, a deleted one whose last record is not a tombstone.
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


async def stored_users(
    database_url: str, tenant_ids: list[str] | None, *, with_deleted: bool = False
) -> list[dict[str, Any]]:
    """The live users of ``tenant_ids`` (of every tenant when None); ``with_deleted``: the
    deleted ones too (``deleted`` tells)."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT id, tenant_id, user_name, active, version, display_name,"
            " deleted_at IS NOT NULL AS deleted FROM users"
            " WHERE ($1::text[] IS NULL OR tenant_id = ANY($1::text[]))"
            " AND ($2 OR deleted_at IS NULL)",
            tenant_ids,
            with_deleted,
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def stored_memberships(database_url: str, tenant_ids: list[str]) -> set[tuple[str, str]]:
    """(group id, user id) of every membership of ``tenant_ids``."""
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT group_id, user_id FROM memberships WHERE tenant_id = ANY($1::text[])",
            tenant_ids,
        )
    finally:
        await conn.close()
    return {(r["group_id"], r["user_id"]) for r in rows}


def _allowed(ops: list[Op], value: Any, initial: Any) -> set[Any]:
    """What a stored attribute may hold after ``ops`` (each setting ``value(op)``, in order):
    the last acknowledged one's value (``initial`` when none was), or that of any
    indeterminate one after it. Definitely failed ones never count."""
    tried = [op for op in ops if op.outcome != "failed"]
    last = max((i for i, op in enumerate(tried) if op.outcome == "acknowledged"), default=-1)
    allowed = {value(tried[last]) if last >= 0 else initial}
    allowed.update(value(op) for op in tried[last + 1 :])
    return allowed


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
    changes: dict[str, list[Op]] = defaultdict(list)  # userName -> its later ops, in order
    for op in ops:
        setattr(v, op.outcome, getattr(v, op.outcome) + 1)
        if op.kind != "create":
            changes[op.user_name].append(op)
    every = await stored_users(database_url, tenant_ids, with_deleted=True)
    rows = [r for r in every if not r["deleted"]]
    gone = {r["user_name"]: r for r in every if r["deleted"]}
    v.stored = len(rows)
    by_name = Counter(r["user_name"] for r in rows)
    row_of = {r["user_name"]: r for r in rows}
    acked = {op.user_name for op in creates if op.outcome == "acknowledged"}
    maybe = {op.user_name for op in creates if op.outcome == "indeterminate"}

    def done(name: str, kind: str, *outcomes: str) -> list[Op]:
        return [op for op in changes[name] if op.kind == kind and op.outcome in outcomes]

    def note(text: str) -> None:
        if len(v.examples) < 8:
            v.examples.append(text)

    for op in ops:
        if op.outcome == "failed":
            note(f"failed {op.kind} {op.user_name}: answers {' '.join(op.statuses)}")
    for name in sorted(acked - set(row_of)):
        if not done(name, "delete", "acknowledged", "indeterminate"):
            v.lost += 1
            note(f"lost create {name}")
    for name in sorted(set(row_of) - acked - maybe):
        v.unexpected += 1
        note(f"unexpected user {name}")
    v.duplicates = sum(n - 1 for n in by_name.values() if n > 1)

    memberships = await stored_memberships(database_url, tenant_ids)
    for name, row in row_of.items():
        if done(name, "delete", "acknowledged"):
            v.lost += 1
            note(f"lost delete {name}")
        if done(name, "deactivate", "acknowledged") and row["active"]:
            v.lost += 1
            note(f"lost deactivation {name}")
        names = [op for op in changes[name] if op.kind in ("rename", "replace")]
        if row["display_name"] not in _allowed(names, lambda op: op.value, None):
            v.lost += 1
            note(f"lost rename of {name}: {row['display_name']!r}")
        groups = {op.group_id for op in changes[name] if op.group_id}
        groups |= {g for g, u in memberships if u == row["id"]}
        for group in groups:
            moves = [op for op in changes[name] if op.group_id == group]
            member = (group, row["id"]) in memberships
            if member not in _allowed(moves, lambda op: op.kind == "join", False):
                if member and not moves:
                    v.unexpected += 1
                else:
                    v.lost += 1
                note(f"membership of {name} in {group}: {member} in PostgreSQL")

    lifecycle = await read_topic(bootstrap, prefix + "roster.lifecycle")
    created_ids: dict[str, set[str]] = defaultdict(set)
    deleted_ids: dict[str, set[str]] = defaultdict(set)
    joined: dict[tuple[str, str], set[str]] = defaultdict(set)
    left: dict[tuple[str, str], set[str]] = defaultdict(set)
    latest: dict[str, tuple[int, bool, str | None]] = {}
    for _key, value in lifecycle:
        if value is None:
            continue
        event = json.loads(value)
        kind = str(event.get("type", ""))
        if kind.startswith("membership."):
            data = event["data"]
            pair = (data["group_id"], data["user_id"])
            (joined if kind == "membership.added" else left)[pair].add(event["event_id"])
            continue
        if not kind.startswith("user."):
            continue
        user = event["data"]["user"]
        if user["tenant_id"] not in tenant_ids:
            continue
        if kind == "user.created":
            created_ids[user["id"]].add(event["event_id"])
        if kind == "user.deleted":
            deleted_ids[user["id"]].add(event["event_id"])
        if user["version"] >= latest.get(user["id"], (0, True, None))[0]:
            latest[user["id"]] = (user["version"], user["active"], user.get("display_name"))
    ids = {r["id"]: r for r in rows}
    ever = {r["id"] for r in every}
    for user_id, events in created_ids.items():
        if len(events) > 1:
            v.duplicates += 1
            note(f"user {user_id} created by {len(events)} events")
    for user_id, events in deleted_ids.items():
        if len(events) > 1:
            v.duplicates += 1
            note(f"user {user_id} deleted by {len(events)} events")
    for user_id, row in ids.items():
        stored = (row["version"], row["active"], row["display_name"])
        if not created_ids.get(user_id) or latest.get(user_id) != stored:
            v.lifecycle_mismatch += 1
            note(f"lifecycle of {row['user_name']}: {latest.get(user_id)} vs stored {stored}")
    for row in gone.values():
        if not deleted_ids.get(row["id"]):
            v.lifecycle_mismatch += 1
            note(f"no user.deleted for {row['user_name']}")
    for user_id in set(latest) - ever:
        v.lifecycle_mismatch += 1
        note(f"lifecycle events for unknown user {user_id}")
    names_of = {r["id"]: r["user_name"] for r in every}
    for pair in set(joined) | set(left) | memberships:
        who = names_of.get(pair[1])
        if who is None or who in gone:
            continue
        sent = [op for op in changes[who] if op.group_id == pair[0] and op.outcome != "failed"]
        if len(joined[pair]) > sum(op.kind == "join" for op in sent) or len(left[pair]) > sum(
            op.kind == "leave" for op in sent
        ):
            v.duplicates += 1
            note(f"membership of {who} in {pair[0]} changed more often than asked")
        elif len(joined[pair]) - len(left[pair]) != (pair in memberships):
            v.lifecycle_mismatch += 1
            note(f"membership events of {who} in {pair[0]} vs stored {pair in memberships}")

    snapshots: dict[str, bytes | None] = {}
    for key, value in await read_topic(bootstrap, prefix + "roster.users"):
        if key is not None:
            snapshots[key.decode()] = value
    for user_id, row in ids.items():
        value = snapshots.get(f"{row['tenant_id']}:{user_id}")
        snap = json.loads(value) if value else None
        stored = (row["version"], row["active"], row["display_name"])
        if snap is None or (snap["version"], snap["active"], snap.get("display_name")) != stored:
            v.snapshot_mismatch += 1
            note(f"snapshot of {row['user_name']} differs")
    for row in gone.values():
        snapshot_key = f"{row['tenant_id']}:{row['id']}"
        if snapshot_key not in snapshots or snapshots[snapshot_key] is not None:
            v.snapshot_mismatch += 1
            note(f"no tombstone on roster.users for deleted {row['user_name']}")
    return v
