"""``roster events``: look at ``roster.lifecycle`` and move a consumer group on it.

``tail`` follows one tenant's events (pretty, or one JSON object a line with ``--json``),
``show EVENT_ID`` finds one event, ``replay --from TIME|OFFSET`` sets a consumer group back so
its consumers read the events again. They read Kafka directly (``--kafka``, default
``$ROSTER_KAFKA_BOOTSTRAP``); a tenant's events are on the partition its id is keyed to.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from roster_events import GroupActive, reset_group, tenant_partition
from roster_events.kafka import topic_partitions

from roster_cli.failures import CommandFailed
from roster_cli.tenants import Outcome


@dataclass(frozen=True)
class Start:
    """Where reading starts: the end (None, None), a time, or an offset."""

    time: datetime | None = None
    offset: int | None = None


def parse_start(text: str) -> Start:
    """``--from``: an offset (digits) or an ISO 8601 time with its zone (``...Z``)."""
    if text.isdigit():
        return Start(offset=int(text))
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandFailed(
            "usage", f"--from {text!r}: give an offset (digits) or an ISO 8601 time"
        ) from error
    if when.tzinfo is None:
        raise CommandFailed("usage", f"--from {text!r}: give the time zone (e.g. a final Z)")
    return Start(time=when)


def describe(event: dict[str, Any]) -> str:
    """One line a person reads: when, type, whom, version, source, id."""
    data = event.get("data") or {}
    subject = ""
    version = ""
    if "user" in data:
        subject = str(data["user"].get("user_name"))
        version = f"v{data['user'].get('version')}"
    elif "group" in data:
        subject = str(data["group"].get("display_name"))
        version = f"v{data['group'].get('version')}"
    elif "user_name" in data:
        subject = f"{data.get('user_name')} in {data.get('group_display_name')}"
    changed = ",".join(data.get("changed") or ())
    return (
        f"{event.get('occurred_at')}  {event.get('type', '?'):<18} {subject}  {version}"
        f"  {event.get('source')}  {event.get('event_id')}" + (f"  [{changed}]" if changed else "")
    )


def _consumer(kafka: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=kafka,
        client_id="roster-events-cli",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=100,
    )


async def _partitions(
    consumer: AIOKafkaConsumer, topic: str, tenant_id: str | None
) -> list[TopicPartition]:
    try:
        numbers = await topic_partitions(consumer, topic, wait=5)
    except LookupError as error:
        raise CommandFailed("not_found", f"{error} (is --topic-prefix right?)") from error
    if tenant_id is not None:
        numbers = [tenant_partition(tenant_id, len(numbers))]
    return [TopicPartition(topic, n) for n in numbers]


async def tail(
    kafka: str,
    topic: str,
    tenant_id: str,
    *,
    start: Start,
    as_json: bool,
    limit: int | None,
    follow: bool,
    out: TextIO | None = None,
    started: Callable[[], None] | None = None,
) -> int:
    """Print the tenant's events from ``start`` (default: from now on); returns how many."""
    out = out or sys.stdout
    consumer = _consumer(kafka)
    await consumer.start()
    shown = 0
    try:
        parts = await _partitions(consumer, topic, tenant_id)
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await _seek(consumer, parts, start, ends)
        if started is not None:
            started()
        while limit is None or shown < limit:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                for record in records:
                    if record.key is None or record.key.decode() != tenant_id:
                        continue
                    print(_line(record, as_json), file=out, flush=True)
                    shown += 1
                    if limit is not None and shown >= limit:
                        return shown
            if not follow and all([await consumer.position(tp) >= ends[tp] for tp in parts]):
                return shown
    finally:
        await consumer.stop()
    return shown


def _line(record: Any, as_json: bool) -> str:
    try:
        event = json.loads(record.value)
    except (TypeError, ValueError):
        return json.dumps({"undecodable": repr(record.value)[:200]})
    return json.dumps(event) if as_json else describe(event)


async def _seek(
    consumer: AIOKafkaConsumer,
    parts: list[TopicPartition],
    start: Start,
    ends: dict[TopicPartition, int],
) -> None:
    if start.time is not None:
        found = await consumer.offsets_for_times(
            {tp: int(start.time.timestamp() * 1000) for tp in parts}
        )
        for tp in parts:
            consumer.seek(tp, found[tp].offset if found.get(tp) else ends[tp])
    elif start.offset is not None:
        firsts = await consumer.beginning_offsets(parts)
        for tp in parts:
            consumer.seek(tp, max(firsts[tp], min(ends[tp], start.offset)))
    else:
        for tp in parts:
            consumer.seek(tp, ends[tp])


async def show(kafka: str, topic: str, event_id: str, tenant_id: str | None) -> Outcome:
    """Find one event by id (in the tenant's partition with ``tenant_id``, else everywhere)."""
    consumer = _consumer(kafka)
    await consumer.start()
    needle = event_id.encode()
    searched = 0
    try:
        parts = await _partitions(consumer, topic, tenant_id)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        remaining = {tp for tp in parts if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=300, max_records=5000)
            for records in batches.values():
                for record in records:
                    searched += 1
                    if record.value is None or needle not in record.value:
                        continue
                    event = json.loads(record.value)
                    if event.get("event_id") == event_id:
                        return _found(record, event)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    raise CommandFailed("not_found", f"no event {event_id} in {topic} ({searched} records read)")


def _found(record: Any, event: dict[str, Any]) -> Outcome:
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    text = f"{describe(event)}\n  at {record.topic}[{record.partition}]@{record.offset}\n"
    return Outcome({**where, "event": event}, text + json.dumps(event, indent=2))


async def replay(
    kafka: str, topic: str, group: str, start: Start, tenant_id: str | None
) -> Outcome:
    """Set ``group``'s committed offsets back to ``start``."""
    if start.time is None and start.offset is None:
        raise CommandFailed("usage", "replay needs --from TIME|OFFSET")
    try:
        moved = await reset_group(
            kafka, group, topic, to_time=start.time, to_offset=start.offset, tenant_id=tenant_id
        )
    except GroupActive as error:
        raise CommandFailed("group_active", str(error)) from error
    except LookupError as error:
        raise CommandFailed("not_found", f"{error} (is --topic-prefix right?)") from error
    lines = [f"Consumer group {group} on {topic}: its consumers read from here on next start"]
    lines += [f"  partition {m.partition}: {m.before} -> {m.after}" for m in moved]
    data = {
        "group": group,
        "topic": topic,
        "partitions": [
            {"partition": m.partition, "before": m.before, "after": m.after} for m in moved
        ],
    }
    return Outcome(data, "\n".join(lines))
