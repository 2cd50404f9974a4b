"""The in-process bus of the embedded mode: a partitioned log in memory, same contract as Kafka.

Records are appended to per-topic partitions chosen by a stable hash of the key, so one key's
records stay in order. Consumer groups keep committed offsets; a handler that raises sees the
same batch again after a backoff. The log lives as long as the process: the embedded mode's
durable state is its database, and the outbox there re-sends what was not yet published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Iterable, Sequence

from roster_shared.bus.base import (
    BatchHandler,
    Bus,
    Message,
    Record,
    Subscription,
)
from roster_shared.topics import TopicSpec

log = logging.getLogger(__name__)


def partition_for(key: str, partitions: int) -> int:
    """A stable partition for a key (CRC-32; any stable hash keeps per-key order)."""
    return zlib.crc32(key.encode()) % partitions


class _Topic:
    def __init__(self, name: str, partitions: int) -> None:
        self.name = name
        self.logs: list[list[Message]] = [[] for _ in range(partitions)]
        self.changed = asyncio.Condition()

    def append(self, record: Record) -> None:
        partition = partition_for(record.key, len(self.logs))
        log_ = self.logs[partition]
        log_.append(
            Message(
                topic=self.name,
                partition=partition,
                offset=len(log_),
                key=record.key,
                value=record.value,
                headers=record.headers,
                timestamp_ms=int(time.time() * 1000),
            )
        )


class _Group:
    """Committed offsets and live members of one consumer group."""

    def __init__(self) -> None:
        self.committed: dict[tuple[str, int], int] = {}
        self.members: list[_GroupSubscription] = []

    def assignment(self, member: _GroupSubscription, topics: dict[str, _Topic]) -> list[
        tuple[str, int]
    ]:
        """Partitions spread round-robin over the members, like Kafka's range of a single topic."""
        if member not in self.members:
            return []
        index = self.members.index(member)
        pairs = [
            (name, p) for name in member.topic_names for p in range(len(topics[name].logs))
        ]
        return [pair for i, pair in enumerate(pairs) if i % len(self.members) == index]


class MemoryBus(Bus):
    """An in-process implementation of :class:`Bus`."""

    def __init__(self, *, default_partitions: int = 4, retry_backoff: float = 0.2) -> None:
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[str, _Group] = {}
        self._subscriptions: list[Subscription] = []
        self._default_partitions = default_partitions
        self.retry_backoff = retry_backoff

    async def start(self) -> None:
        """Nothing to connect to."""

    async def stop(self) -> None:
        """Stop every subscription made from this bus."""
        for subscription in list(self._subscriptions):
            await subscription.stop()

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create missing topics with their partition counts."""
        for spec in specs:
            self._topic(spec.name, spec.partitions)

    def _topic(self, name: str, partitions: int | None = None) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = _Topic(name, partitions or self._default_partitions)
            self._topics[name] = topic
        return topic

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Append records; wake the readers of every topic touched."""
        touched: dict[str, _Topic] = {}
        for record in records:
            topic = self._topic(record.topic)
            topic.append(record)
            touched[topic.name] = topic
        for topic in touched.values():
            async with topic.changed:
                topic.changed.notify_all()

    def subscribe(
        self, group: str, topics: Sequence[str], handler: BatchHandler, *, max_batch: int = 500
    ) -> Subscription:
        """A consumer-group member."""
        subscription = _GroupSubscription(self, group, tuple(topics), handler, max_batch)
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader from the end of ``topic``."""
        subscription = _ListenSubscription(self, topic, handler)
        self._subscriptions.append(subscription)
        return subscription

    def _forget(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)


class _Poller(Subscription):
    """Shared loop: wait for new messages, hand them over in batches, retry on failure."""

    def __init__(self, bus: MemoryBus, handler: BatchHandler, max_batch: int) -> None:
        super().__init__()
        self._bus = bus
        self._handler = handler
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._join()
        self._task = asyncio.create_task(self._run(), name=f"memory-bus-{type(self).__name__}")
        await self.ready.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        self._leave()
        self._bus._forget(self)

    def _join(self) -> None:
        """Called at start (group membership, start positions)."""

    def _leave(self) -> None:
        """Called at stop."""

    def _positions(self) -> list[tuple[_Topic, int, int]]:
        """(topic, partition, next offset) for each partition this reader owns."""
        raise NotImplementedError

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        self.ready.set()
        while not self._stopping:
            progressed = False
            for topic, partition, position in self._positions():
                batch = topic.logs[partition][position : position + self._max_batch]
                if not batch:
                    continue
                try:
                    await self._handler(batch)
                except Exception:
                    log.exception("handler failed; batch will be redelivered", extra={
                        "topic": topic.name, "partition": partition, "offset": position})
                    await asyncio.sleep(self._bus.retry_backoff)
                    continue
                self._advance(topic.name, partition, batch[-1].offset + 1)
                progressed = True
                if self._stopping:
                    return
            if not progressed:
                await self._wait_for_news()

    async def _wait_for_news(self) -> None:
        waiters = [
            asyncio.create_task(self._wait_topic(topic))
            for topic in {t for t, _, _ in self._positions()}
        ]
        waiters.append(asyncio.create_task(self._wake.wait()))
        # A short timeout also picks up rebalances and topics created after we started.
        await asyncio.wait(waiters, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)

    @staticmethod
    async def _wait_topic(topic: _Topic) -> None:
        async with topic.changed:
            await topic.changed.wait()


class _GroupSubscription(_Poller):
    def __init__(
        self,
        bus: MemoryBus,
        group: str,
        topic_names: tuple[str, ...],
        handler: BatchHandler,
        max_batch: int,
    ) -> None:
        super().__init__(bus, handler, max_batch)
        self.group_name = group
        self.topic_names = topic_names

    @property
    def _group(self) -> _Group:
        return self._bus._groups.setdefault(self.group_name, _Group())

    def _join(self) -> None:
        for name in self.topic_names:
            self._bus._topic(name)
        self._group.members.append(self)

    def _leave(self) -> None:
        with contextlib.suppress(ValueError):
            self._group.members.remove(self)

    def _positions(self) -> list[tuple[_Topic, int, int]]:
        topics = self._bus._topics
        return [
            (topics[name], p, self._group.committed.get((name, p), 0))
            for name, p in self._group.assignment(self, topics)
        ]

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        self._group.committed[(topic, partition)] = offset


class _ListenSubscription(_Poller):
    def __init__(self, bus: MemoryBus, topic_name: str, handler: BatchHandler) -> None:
        super().__init__(bus, handler, max_batch=1000)
        self._topic_name = topic_name
        self._offsets: dict[int, int] = {}

    def _join(self) -> None:
        topic = self._bus._topic(self._topic_name)
        self._offsets = {p: len(entries) for p, entries in enumerate(topic.logs)}

    def _positions(self) -> list[tuple[_Topic, int, int]]:
        topic = self._bus._topic(self._topic_name)
        return [(topic, p, self._offsets.get(p, 0)) for p in range(len(topic.logs))]

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        self._offsets[partition] = offset
