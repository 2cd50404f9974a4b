"""What every Kafka subscription shares: a consumer, a background loop, a lock around each batch.

:class:`KafkaSubscription` starts its consumer and loop, and stops them so that the batch in
hand is finished and committed first; a loop that dies on its own leaves the group so its
partitions go to a live member. The two kinds are :class:`~.group.GroupMember` (a consumer
group member, at-least-once) and :class:`~.listener.Listener` (groupless, for request/reply).
A subscription gets the bus's :class:`~.options.KafkaOptions` and an ``on_closed`` callback,
never the bus itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from roster_shared.bus.base import BatchHandler, BusError, Headers, Message, Subscription
from roster_shared.bus.kafka.options import KafkaOptions

log = logging.getLogger(__name__)

# How long one getmany waits when there is nothing to read. Records are returned as soon as
# they arrive (the broker answers a fetch at its first byte: fetch_min_bytes=1); this only
# bounds the loop.
POLL_TIMEOUT_MS = 500


def to_message(record: Any) -> Message:
    """An aiokafka ``ConsumerRecord`` as a bus :class:`Message`; never raises on its content.

    Anyone who can produce to a topic chooses a record's bytes: a key that is not UTF-8 is
    handed over as ``key=None`` with its ``raw_key`` (for the handler to dead-letter), and
    headers as bytes under text names, whatever they hold.
    """
    raw_key: bytes | None = record.key
    key: str | None = None
    if raw_key is not None:
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            key = None
    headers: Headers = tuple(
        (str(name), bytes(value or b"")) for name, value in record.headers or ()
    )
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        value=record.value,
        headers=headers,
        timestamp_ms=record.timestamp if record.timestamp is not None else 0,
        raw_key=raw_key,
    )


class KafkaSubscription(Subscription):
    """Shared lifecycle: a consumer, a background loop, a lock around each batch."""

    def __init__(
        self,
        options: KafkaOptions,
        handler: BatchHandler,
        name: str,
        *,
        on_closed: Callable[[KafkaSubscription], None] | None = None,
    ) -> None:
        super().__init__()
        self._options = options
        self._on_closed = on_closed
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
                    timeout=self._options.start_timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                ready.cancel()
                await asyncio.wait({ready})
            if not self.ready.is_set():
                raise BusError(f"{self._name} not ready within {self._options.start_timeout:g}s")
        except BaseException as exc:
            await self._shutdown()
            if isinstance(exc, KafkaError):
                raise BusError(f"{self._name} failed to start: {exc}") from exc
            raise

    async def stop(self) -> None:
        """Finish and commit the batch in hand, then close the consumer (leaving the group)."""
        self._stopping = True
        self._stopped = True
        async with self._batch_lock:
            # Between batches: the loop is fetching or idle, safe to cancel. What the last
            # batches committed lands first, so a clean stop redelivers nothing.
            await self._settle()
            if self._task is not None:
                self._task.cancel()
        await self._shutdown()

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping:
            return
        # The loop died (cancelled from outside, or a bug): leave the group without committing
        # anything more, so the partitions go to a live member instead of stalling here.
        error = None if task.cancelled() else task.exception()
        log.critical("%s loop ended unexpectedly; leaving", self._name, exc_info=error)
        self._abandoned = asyncio.ensure_future(self._leave())
        self._died(f"{self._name} loop ended: {'cancelled' if error is None else repr(error)}")

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
        if self._on_closed is not None:
            self._on_closed(self)

    async def _leave(self) -> None:
        # Commits already sent were for batches handled in full: let them land, then go.
        await self._settle()
        await self._close_consumer()

    async def _settle(self) -> None:
        """Wait for the commits in flight (a group member sends them without waiting)."""

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
