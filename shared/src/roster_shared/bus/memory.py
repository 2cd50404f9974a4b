"""The in-process bus of the embedded mode: a partitioned log in memory, same contract as Kafka.

Records are appended to per-topic partitions chosen by a stable hash of the key, so one key's
records stay in order. Consumer groups keep committed offsets; a handler that raises sees the
same batch again after a backoff of that partition alone (the others go on). The log lives as
long as the process: the embedded mode's durable state is its database, and the outbox there
re-sends what was not yet published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager

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
    def __init__(self, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
        self.name = name
        self.config = dict(config or {})
        self.logs: list[list[Message]] = [[] for _ in range(partitions)]
        # Set (and replaced) on every append. A reader takes the current event before it
        # looks at the log, so an append between looking and waiting still wakes it.
        self.news = asyncio.Event()

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
        self.news.set()
        self.news = asyncio.Event()


class _Group:
    """Committed offsets and live members of one consumer group."""

    def __init__(self) -> None:
        self.committed: dict[tuple[str, int], int] = {}
        self.members: list[_GroupSubscription] = []
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}

    def join(self, member: _GroupSubscription) -> None:
        self.members.append(member)
        self._rebalanced()

    def leave(self, member: _GroupSubscription) -> None:
        with contextlib.suppress(ValueError):
            self.members.remove(member)
        self._rebalanced()

    def _rebalanced(self) -> None:
        for member in self.members:
            member._wake.set()

    def lock(self, topic: str, partition: int) -> asyncio.Lock:
        """Held by the member handling a batch of that partition."""
        return self._locks.setdefault((topic, partition), asyncio.Lock())

    def assignment(
        self, member: _GroupSubscription, topics: dict[str, _Topic]
    ) -> list[tuple[str, int]]:
        """Partitions spread round-robin over the members, like Kafka's range of a single topic."""
        if member not in self.members:
            return []
        index = self.members.index(member)
        pairs = [(name, p) for name in member.topic_names for p in range(len(topics[name].logs))]
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
            self._topic(spec.name, spec.partitions, spec.config)

    def _topic(
        self, name: str, partitions: int | None = None, config: dict[str, str] | None = None
    ) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = _Topic(name, partitions or self._default_partitions, config)
            self._topics[name] = topic
        return topic

    async def read(self, topic: str, *, limit: int = 10_000) -> list[Message]:
        """Every message of ``topic`` so far, partition by partition, at most ``limit``."""
        found = self._topics.get(topic)
        if found is None:
            return []
        return [message for log_ in found.logs for message in log_][:limit]

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Append records (readers of the topics touched wake up)."""
        for record in records:
            self._topic(record.topic).append(record)

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        max_batch: int = 500,
        across_partitions: bool = False,
    ) -> Subscription:
        """A consumer-group member (one partition per batch: ``across_partitions`` is for a
        batch's round trips to a database server, which the embedded mode does not have)."""
        subscription = _GroupSubscription(self, group, tuple(topics), handler, max_batch)
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader from the end of ``topic``."""
        subscription = _ListenSubscription(self, topic, handler)
        self._subscriptions.append(subscription)
        return subscription

    # -- looking at the log (``roster events`` on ``roster dev``) ---------------------------

    def partitions(self, topic: str) -> list[Sequence[Message]]:
        """Every partition's log of ``topic``, oldest first (empty if it does not exist)."""
        found = self._topics.get(topic)
        return [tuple(entries) for entries in found.logs] if found is not None else []

    def partition_of(self, topic: str, key: str) -> int:
        """The partition ``key``'s records go to on ``topic``."""
        return partition_for(key, len(self._topic(topic).logs))

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offsets on ``topic`` (partitions it never committed: 0)."""
        offsets = self._groups.get(group, _Group()).committed
        return {p: offsets.get((topic, p), 0) for p in range(len(self._topic(topic).logs))}

    async def move_group(self, group: str, topic: str, positions: dict[int, int]) -> None:
        """Set the group's committed offsets (a replay): its members read from there next,
        each partition moved between two batches, never under one."""
        found = self._groups.setdefault(group, _Group())
        for partition, offset in positions.items():
            async with found.lock(topic, partition):
                found.committed[(topic, partition)] = offset
        found._rebalanced()

    def _forget(self, subscription: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)


class _Poller(Subscription):
    """Shared loop: wait for new messages, hand them over in batches, retry on failure."""

    #: Group members retry a failed batch; listeners are best effort and move on (the contract).
    _redeliver_failed = True

    def __init__(self, bus: MemoryBus, handler: BatchHandler, max_batch: int) -> None:
        super().__init__()
        self._bus = bus
        self._handler = handler
        self._max_batch = max_batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._news: set[asyncio.Event] = set()
        # Per (topic, partition): failures in a row, and when the next attempt may be made.
        self._failures: dict[tuple[str, int], int] = {}
        self._retry_at: dict[tuple[str, int], float] = {}

    async def start(self) -> None:
        self._join()
        self._task = asyncio.create_task(self._run(), name=f"memory-bus-{type(self).__name__}")
        self._task.add_done_callback(self._loop_ended)
        await self.ready.wait()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        # Cancelled from outside (or a bug): leave the group so a live member takes over from
        # the last committed offset, as a dead Kafka consumer's partitions would move.
        error = None if task.cancelled() else task.exception()
        log.critical("subscription loop ended unexpectedly; leaving", exc_info=error)
        self._leave()
        self._died(f"loop ended: {'cancelled' if error is None else repr(error)}")

    async def stop(self) -> None:
        self._stopping = True
        self._stopped = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            # asyncio.wait, not await: a task that ended cancelled (cancelled mid-batch, as a
            # crash would) must not surface as the cancellation of whoever stops it.
            await asyncio.wait({task})
        self._leave()
        self._bus._forget(self)

    def _join(self) -> None:
        """Called at start (group membership, start positions)."""

    def _leave(self) -> None:
        """Called at stop."""

    def _owned(self) -> list[tuple[_Topic, int]]:
        """(topic, partition) for each partition this reader owns."""
        raise NotImplementedError

    def _claim(self, topic: _Topic, partition: int) -> AbstractAsyncContextManager[int | None]:
        """Hold the partition while a batch is handled; gives its next offset, None if lost."""
        raise NotImplementedError

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        self.ready.set()
        while not self._stopping:
            try:
                busy = await self._round()
            except Exception:  # a bug in the loop itself: logged, and the loop goes on
                log.exception("subscription round failed; retrying")
                await asyncio.sleep(self._bus.retry_backoff)
                continue
            if not busy and not self._stopping:
                await self._wait_for_news(self._news, self._next_retry())

    async def _round(self) -> bool:
        """Hand one batch of each owned partition over; True when any was handed over. A
        partition whose handler failed waits out its own backoff; the others go on."""
        self._wake.clear()
        owned = self._owned()
        self._news = {topic.news for topic, _ in owned}
        busy = False
        now = time.monotonic()
        for topic, partition in owned:
            if self._stopping:
                return busy
            key = (topic.name, partition)
            if self._retry_at.get(key, 0.0) > now:
                continue
            async with self._claim(topic, partition) as position:
                if position is None:
                    continue
                self._tracker.seen(topic.name, partition, position, len(topic.logs[partition]))
                batch = topic.logs[partition][position : position + self._max_batch]
                if not batch:
                    continue
                busy = True
                try:
                    await self._handler(batch)
                except Exception:
                    extra = {"topic": topic.name, "partition": partition, "offset": position}
                    if self._redeliver_failed:
                        log.exception("handler failed; batch will be redelivered", extra=extra)
                        failures = self._failures[key] = self._failures.get(key, 0) + 1
                        delay = min(5.0, self._bus.retry_backoff * 2 ** (failures - 1))
                        self._retry_at[key] = time.monotonic() + delay
                        continue
                    log.exception("listener failed; messages skipped", extra=extra)
                self._failures.pop(key, None)
                self._retry_at.pop(key, None)
                self._advance(topic.name, partition, batch[-1].offset + 1)
                self._tracker.seen(
                    topic.name, partition, batch[-1].offset + 1, len(topic.logs[partition])
                )
        self._tracker.forget((topic.name, partition) for topic, partition in owned)
        return busy

    def _next_retry(self) -> float:
        """Seconds until the soonest partition backoff ends (0.5 when none is pending)."""
        if not self._retry_at:
            return 0.5
        return max(0.0, min(0.5, min(self._retry_at.values()) - time.monotonic()))

    async def _wait_for_news(self, news: set[asyncio.Event], timeout: float) -> None:  # noqa: ASYNC109
        waiters = [asyncio.create_task(event.wait()) for event in (*news, self._wake)]
        # A short timeout also picks up topics created after we started, and backoffs ending.
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


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
        self._group.join(self)

    def _leave(self) -> None:
        self._group.leave(self)

    def _owned(self) -> list[tuple[_Topic, int]]:
        topics = self._bus._topics
        return [(topics[name], p) for name, p in self._group.assignment(self, topics)]

    @contextlib.asynccontextmanager
    async def _claim(self, topic: _Topic, partition: int) -> AsyncIterator[int | None]:
        # A rebalance may hand this partition to another member while we handle a batch of it:
        # the new owner waits here until our batch is committed, like Kafka's revocation.
        group = self._group
        async with group.lock(topic.name, partition):
            if (topic.name, partition) not in group.assignment(self, self._bus._topics):
                yield None
            else:
                yield group.committed.get((topic.name, partition), 0)

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        self._group.committed[(topic, partition)] = offset


class _ListenSubscription(_Poller):
    _redeliver_failed = False

    def __init__(self, bus: MemoryBus, topic_name: str, handler: BatchHandler) -> None:
        super().__init__(bus, handler, max_batch=1000)
        self._topic_name = topic_name
        self._offsets: dict[int, int] = {}

    def _join(self) -> None:
        topic = self._bus._topic(self._topic_name)
        self._offsets = {p: len(entries) for p, entries in enumerate(topic.logs)}

    def _owned(self) -> list[tuple[_Topic, int]]:
        topic = self._bus._topic(self._topic_name)
        return [(topic, p) for p in range(len(topic.logs))]

    @contextlib.asynccontextmanager
    async def _claim(self, topic: _Topic, partition: int) -> AsyncIterator[int | None]:
        yield self._offsets.get(partition, 0)

    def _advance(self, topic: str, partition: int, offset: int) -> None:
        self._offsets[partition] = offset
