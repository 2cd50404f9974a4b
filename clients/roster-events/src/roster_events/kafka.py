"""The Kafka consumer: bootstrap from ``roster.users``, then follow ``roster.lifecycle``.

``roster.lifecycle`` is keyed by tenant id, so one tenant's events are on one partition, in
order. The consumer assigns itself that partition (every partition when it follows all tenants)
and keeps its position as the committed offset of its consumer group, committed only after the
handler returned for every record before it.

The first start of a group (no committed offset yet) bootstraps:

1. note where ``roster.lifecycle`` was ``bootstrap_margin`` ago (an event older than that has
   long had its ``roster.users`` snapshot published: the user-store's outbox sends both in one
   batch);
2. read ``roster.users`` (compacted: the latest state per user) from its beginning to its end,
   handing the tenant's users to ``on_snapshot`` and its tombstones to ``on_gone``;
3. commit the position of step 1, and follow from there. The events between it and the end of
   the snapshot are mostly older than what the snapshot held; those are not handed over (the
   application never goes back in time), the newer ones are.

A crash anywhere in the bootstrap leaves no committed offset, so the next start bootstraps again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2
from roster_shared.topics import Topics

from roster_events.decoding import UnsupportedEvent
from roster_events.dispatch import Dispatcher
from roster_events.handler import Deduplicator, Handler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumerConfig:
    """Where to read and as whom.

    ``group`` is the consumer group whose committed offsets hold the application's position
    (one running consumer per group and tenant: the group is the application's bookmark, the
    partition assignment is by tenant). ``tenant_id`` None follows every tenant.
    """

    bootstrap_servers: str
    group: str
    tenant_id: str | None = None
    topic_prefix: str = ""
    client_id: str = "roster-events"
    bootstrap_margin: timedelta = timedelta(seconds=60)
    max_batch: int = 500
    retry_backoff: tuple[float, float] = (0.2, 10.0)
    skip_unsupported: bool = False


def tenant_partition(tenant_id: str, partitions: int) -> int:
    """The ``roster.lifecycle`` partition of a tenant (Kafka's default partitioner, murmur2)."""
    return int((murmur2(tenant_id.encode()) & 0x7FFFFFFF) % partitions)


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str, wait: float = 30) -> list[int]:
    """The partitions of ``topic``, waiting up to ``wait`` seconds for it to exist."""
    deadline = time.monotonic() + wait
    while True:
        # consumer.topics() fetches fresh metadata but keeps it from partitions_for_topic();
        # the cluster it fetched answers directly.
        cluster = await consumer._client.fetch_all_metadata()
        found = cluster.partitions_for_topic(topic)
        if found:
            return sorted(found)
        if time.monotonic() > deadline:
            raise LookupError(f"topic {topic} does not exist")
        await asyncio.sleep(0.5)


def consumer_for(config: ConsumerConfig, group: str | None) -> AIOKafkaConsumer:
    """An aiokafka consumer with the settings that matter spelled out (never auto-commit)."""
    return AIOKafkaConsumer(
        bootstrap_servers=config.bootstrap_servers,
        client_id=config.client_id,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        fetch_max_wait_ms=100,
        max_poll_records=config.max_batch,
    )


class LifecycleConsumer:
    """Runs one application's handler over one tenant's (or every tenant's) users and events."""

    def __init__(
        self, config: ConsumerConfig, handler: Handler, *, dedup: Deduplicator | None = None
    ) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix)
        self.dispatcher = Dispatcher(
            handler,
            tenant_id=config.tenant_id,
            dedup=dedup,
            skip_unsupported=config.skip_unsupported,
        )
        self.following = asyncio.Event()
        """Set once bootstrapped (or resumed) and reading ``roster.lifecycle``."""
        self.bootstrapped = False
        self._stop = asyncio.Event()

    @property
    def stats(self) -> Any:
        """The dispatcher's counters (snapshots, events, duplicates, ...)."""
        return self.dispatcher.stats

    def stop(self) -> None:
        """Ask :meth:`run` to return after the record in hand (its offset committed)."""
        self._stop.set()

    async def run(self) -> None:
        """Bootstrap if the group has no position yet, then follow until :meth:`stop`.

        Raises :class:`~roster_events.UnsupportedEvent` on a record it cannot decode (unless
        ``skip_unsupported``), after committing everything before it.
        """
        consumer = consumer_for(self.config, self.config.group)
        await consumer.start()
        try:
            partitions = await self._lifecycle_partitions(consumer)
            consumer.assign(partitions)
            committed = {tp: await consumer.committed(tp) for tp in partitions}
            if all(offset is None for offset in committed.values()):
                starts = await self._bootstrap(consumer, partitions)
                self.bootstrapped = True
            else:
                # A partition added since the group started has no position: read it all.
                starts = {tp: offset or 0 for tp, offset in committed.items()}
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            self.following.set()
            await self._follow(consumer)
        finally:
            await consumer.stop()

    async def _lifecycle_partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        topic = self.topics.lifecycle
        numbers = await topic_partitions(consumer, topic)
        if self.config.tenant_id is not None:
            numbers = [tenant_partition(self.config.tenant_id, len(numbers))]
        return [TopicPartition(topic, n) for n in numbers]

    async def _bootstrap(
        self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        since_ms = int((time.time() - self.config.bootstrap_margin.total_seconds()) * 1000)
        found = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        starts = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in partitions}
        await self._read_snapshot()
        await consumer.commit(starts)
        log.info("bootstrapped from %s; following from %s", self.topics.users, starts)
        return starts

    async def _read_snapshot(self) -> None:
        reader = consumer_for(self.config, None)
        await reader.start()
        try:
            topic = self.topics.users
            parts = [TopicPartition(topic, n) for n in await topic_partitions(reader, topic)]
            reader.assign(parts)
            await reader.seek_to_beginning(*parts)
            ends = await reader.end_offsets(parts)
            latest: dict[str, bytes | None] = {}
            remaining = {tp for tp in parts if ends[tp] > 0}
            while remaining:
                batches = await reader.getmany(*remaining, timeout_ms=500, max_records=5000)
                for records in batches.values():
                    for record in records:
                        key = record.key.decode() if record.key is not None else ""
                        if self.dispatcher.wants_snapshot(key):
                            latest[key] = record.value
                for tp in list(remaining):
                    if await reader.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await reader.stop()
        for key, value in latest.items():
            await self.dispatcher.snapshot(key, value)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        low, high = self.config.retry_backoff
        backoff = low
        while not self._stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                done: int | None = None
                try:
                    for record in records:
                        if self._stop.is_set():
                            break
                        key = record.key.decode() if record.key is not None else None
                        await self.dispatcher.record(key, record.value)
                        done = record.offset + 1
                except Exception as error:
                    if done is not None:
                        await consumer.commit({tp: done})
                    failed = records[0].offset if done is None else done
                    consumer.seek(tp, failed)
                    if isinstance(error, UnsupportedEvent):
                        raise
                    log.exception("handler failed at %s@%d; retrying in %.1fs", tp, failed, backoff)
                    await self._sleep(backoff)
                    backoff = min(high, backoff * 2)
                    continue
                if done is not None:
                    await consumer.commit({tp: done})
                    backoff = low

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
