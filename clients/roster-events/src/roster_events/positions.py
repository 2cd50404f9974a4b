"""Moving a consumer group's position on ``roster.lifecycle``: what a replay is.

A replay sets the group's committed offsets back (to a time, or to an offset) so that its
consumer reads those events again when it next starts. The group's consumers must be stopped
first: a running member would commit its own position over the new one. A group with live
members (one that subscribes, like the webhooks service) is refused with that reason; a consumer
of this package assigns itself partitions and is not a visible member, so stop it yourself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from roster_events.kafka import tenant_partition, topic_partitions


class GroupActive(Exception):
    """The group has live members; stop them before moving its position."""


@dataclass(frozen=True)
class Moved:
    """One partition's committed offset before and after."""

    partition: int
    before: int | None
    after: int


async def reset_group(
    bootstrap_servers: str,
    group: str,
    topic: str,
    *,
    to_time: datetime | None = None,
    to_offset: int | None = None,
    tenant_id: str | None = None,
) -> list[Moved]:
    """Commit ``group``'s offsets on ``topic`` at ``to_time`` (the first record at or after it)
    or ``to_offset`` (clamped to what the partition holds); only the tenant's partition with
    ``tenant_id``. Returns what moved. Raises :class:`GroupActive` if the group has members."""
    if (to_time is None) == (to_offset is None):
        raise ValueError("give exactly one of to_time and to_offset")
    await _refuse_active(bootstrap_servers, group)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        client_id="roster-events-replay",
    )
    await consumer.start()
    try:
        numbers = await topic_partitions(consumer, topic, wait=5)
        if tenant_id is not None:
            numbers = [tenant_partition(tenant_id, len(numbers))]
        parts = [TopicPartition(topic, n) for n in numbers]
        consumer.assign(parts)
        firsts = await consumer.beginning_offsets(parts)
        ends = await consumer.end_offsets(parts)
        if to_time is not None:
            found = await consumer.offsets_for_times(
                {tp: int(to_time.timestamp() * 1000) for tp in parts}
            )
            targets = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in parts}
        else:
            assert to_offset is not None
            targets = {tp: max(firsts[tp], min(ends[tp], to_offset)) for tp in parts}
        before = {tp: await consumer.committed(tp) for tp in parts}
        await consumer.commit(targets)
        return [Moved(tp.partition, before[tp], targets[tp]) for tp in parts]
    finally:
        await consumer.stop()


async def _refuse_active(bootstrap_servers: str, group: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    for response in described:
        for entry in getattr(response, "groups", ()):
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            state, members = entry[2], entry[5]
            if members:
                raise GroupActive(
                    f"consumer group {group} has {len(members)} live member(s) (state {state}): "
                    "stop them before a replay"
                )
