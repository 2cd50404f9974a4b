"""The consuming side of :class:`~roster_shared.bus.kafka.KafkaBus`: group members and listeners.

A :class:`GroupMember` hands each fetched partition's records to the handler, then commits the
offset after them; a handler that raises gets the same records again after a backoff. On a
rebalance, the revocation waits for the batch in hand, so its commit lands while the partitions
are still ours. A :class:`Listener` reads every partition of a topic from its end, without a
group, for request/reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError, KafkaError

from roster_shared.bus.base import BatchHandler, BusError, Headers, Message, Subscription

if TYPE_CHECKING:
    from roster_shared.bus.kafka import KafkaBus

log = logging.getLogger(__name__)

# How long one fetch waits when there is nothing to read. Records are returned as soon as they
# arrive (the consumer's fetch_max_wait_ms decides that latency); this only bounds the loop.
_POLL_TIMEOUT_MS = 500


def to_message(record: Any) -> Message:
    """An aiokafka ``ConsumerRecord`` as a bus :class:`Message`."""
    key: bytes | None = record.key
    headers: Headers = tuple((str(name), bytes(value)) for name, value in record.headers or ())
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key.decode("utf-8") if key is not None else None,
        value=record.value,
        headers=headers,
        timestamp_ms=record.timestamp if record.timestamp is not None else 0,
    )


class KafkaSubscription(Subscription):
    """Shared lifecycle: a consumer, a background loop, a lock around each batch."""

    def __init__(self, bus: KafkaBus, handler: BatchHandler, name: str) -> None:
        super().__init__()
        self._bus = bus
        self._handler = handler
        self._name = name
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._abandoned: asyncio.Future[None] | None = None
        # Held while a batch is handled and committed; stop() and a rebalance wait for it.
        self._batch_lock = asyncio.Lock()

    async def start(self) -> None:
        """Join (or assign), start the loop; returns once ready, or raises :class:`BusError`."""
        if self._consumer is not None:
            return
        self._consumer = self._make_consumer()
        try:
            await self._consumer.start()
            await self._prepare(self._consumer)
            self._task = asyncio.create_task(self._run(self._consumer), name=self._name)
            self._task.add_done_callback(self._loop_ended)
            ready = asyncio.create_task(self.ready.wait())
            try:
                await asyncio.wait(
                    {ready, self._task},
                    timeout=self._bus.start_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                ready.cancel()
                await asyncio.wait({ready})
            if not self.ready.is_set():
                raise BusError(f"{self._name} not ready within {self._bus.start_timeout:g}s")
        except BaseException as exc:
            await self._shutdown()
            if isinstance(exc, KafkaError):
                raise BusError(f"{self._name} failed to start: {exc}") from exc
            raise

    async def stop(self) -> None:
        """Finish and commit the batch in hand, then close the consumer (leaving the group)."""
        self._stopping = True
        async with self._batch_lock:
            # Between batches: the loop is fetching or idle, safe to cancel.
            if self._task is not None:
                self._task.cancel()
        await self._shutdown()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        # The loop died (cancelled from outside, or a bug): leave the group without committing
        # anything more, so the partitions go to a live member instead of stalling here.
        error = None if task.cancelled() else task.exception()
        log.error("%s loop ended unexpectedly; leaving", self._name, exc_info=error)
        self._abandoned = asyncio.ensure_future(self._close_consumer())

    async def _shutdown(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not await: the task may have ended cancelled (a handler cancelled
            # mid-batch), and that must not surface as the cancellation of whoever stops us.
            await asyncio.wait({task})
        abandoned, self._abandoned = self._abandoned, None
        if abandoned is not None:
            await asyncio.wait({abandoned})
            error = None if abandoned.cancelled() else abandoned.exception()
            if error is not None:
                log.warning("%s: closing the consumer failed", self._name, exc_info=error)
        await self._close_consumer()
        self._bus._forget(self)

    async def _close_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def _make_consumer(self) -> AIOKafkaConsumer:
        raise NotImplementedError

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        """Subscribe or assign, after the consumer started."""

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscription: GroupMember) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._subscription._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._subscription._on_assigned(assigned)


class GroupMember(KafkaSubscription):
    def __init__(
        self,
        bus: KafkaBus,
        group: str,
        topics: tuple[str, ...],
        handler: BatchHandler,
        max_batch: int,
    ) -> None:
        super().__init__(bus, handler, f"kafka-bus-group-{group}")
        self.group = group
        self.topics = topics
        self.max_batch = max_batch
        # Bumped when partitions are revoked: a fetched result from before is stale.
        self._generation = 0

    def _make_consumer(self) -> AIOKafkaConsumer:
        return self._bus._consumer(self.group, max_batch=self.max_batch)

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        consumer.subscribe(list(self.topics), listener=_RebalanceListener(self))

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self._generation += 1
        # Let the batch in hand finish and commit while the partitions are still ours.
        async with self._batch_lock:
            log.info(
                "partitions revoked",
                extra={"group": self.group, "partitions": _names(revoked)},
            )

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"group": self.group, "partitions": _names(assigned)})
        self.ready.set()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        low, high = self._bus.retry_backoff
        backoff = low
        while not self._stopping:
            generation = self._generation
            try:
                fetched = await consumer.getmany(
                    timeout_ms=_POLL_TIMEOUT_MS, max_records=self.max_batch
                )
            except ConsumerStoppedError:
                return
            except KafkaError:
                log.exception("fetch failed", extra={"group": self.group})
                await asyncio.sleep(backoff)
                backoff = min(high, backoff * 2)
                continue
            pending = [(tp, records) for tp, records in fetched.items() if records]
            failed = False
            async with self._batch_lock:
                while pending:
                    if self._stopping or generation != self._generation:
                        # Stopping, or partitions were revoked since the fetch: hand nothing
                        # more over. Whoever owns these partitions now (maybe us again) reads
                        # them from the committed offset.
                        break
                    tp, records = pending.pop(0)
                    if not await self._handle(consumer, tp, records):
                        failed = True
                        continue
                    if not await self._commit(consumer, tp, records[-1].offset + 1):
                        break
                # Records fetched but not handed over are read again from their first offset
                # (the consumer's position already moved past them).
                for tp, records in pending:
                    with contextlib.suppress(IllegalStateError):
                        consumer.seek(tp, records[0].offset)
            if failed:
                await asyncio.sleep(backoff)
                backoff = min(high, backoff * 2)
            elif fetched:
                backoff = low

    async def _handle(self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: Any) -> bool:
        messages = [to_message(record) for record in records]
        try:
            await self._handler(messages)
        except Exception:
            log.exception(
                "handler failed; batch will be redelivered",
                extra={
                    "group": self.group,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": messages[0].offset,
                },
            )
            with contextlib.suppress(IllegalStateError):
                consumer.seek(tp, messages[0].offset)
            return False
        return True

    async def _commit(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> bool:
        try:
            await consumer.commit({tp: offset})
        except (KafkaError, IllegalStateError):
            # The group rebalanced under us: the partition's owner redelivers from the last
            # committed offset (at-least-once).
            log.warning(
                "commit failed; batch may be redelivered",
                exc_info=True,
                extra={"group": self.group, "topic": tp.topic, "partition": tp.partition},
            )
            return False
        return True


class Listener(KafkaSubscription):
    def __init__(self, bus: KafkaBus, topic: str, handler: BatchHandler) -> None:
        super().__init__(bus, handler, f"kafka-bus-listen-{topic}")
        self.topic = topic

    def _make_consumer(self) -> AIOKafkaConsumer:
        return self._bus._consumer(None, max_batch=1000)

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        deadline = time.monotonic() + self._bus.start_timeout
        partitions = await self._bus._partitions(self.topic)
        while not partitions:
            if time.monotonic() > deadline:
                raise BusError(f"topic {self.topic} does not exist")
            await asyncio.sleep(0.2)
            partitions = await self._bus._partitions(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        # seek_to_end only marks the partitions for a reset; resolving the positions now fixes
        # the starting offsets, so a record sent once start() returned is always read.
        for tp in tps:
            await consumer.position(tp)
        self.ready.set()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while not self._stopping:
            try:
                batches = await consumer.getmany(timeout_ms=_POLL_TIMEOUT_MS)
            except ConsumerStoppedError:
                return
            except KafkaError:
                log.exception("fetch failed", extra={"topic": self.topic})
                await asyncio.sleep(self._bus.retry_backoff[0])
                continue
            async with self._batch_lock:
                for records in batches.values():
                    if not records:
                        continue
                    try:
                        await self._handler([to_message(record) for record in records])
                    except Exception:
                        # Best effort: whoever waits for these times out.
                        log.exception(
                            "listener failed; messages skipped", extra={"topic": self.topic}
                        )


def _names(tps: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)
