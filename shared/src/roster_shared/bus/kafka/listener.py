"""A groupless Kafka reader for request/reply: every partition of a topic, from its end.

Each instance of a requesting service sees every reply and picks out its own. Nothing is
committed; a handler that raises skips those messages (whoever waits for them times out).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from roster_shared.bus.base import BatchHandler, BusError
from roster_shared.bus.kafka.options import KafkaOptions
from roster_shared.bus.kafka.subscription import POLL_TIMEOUT_MS, KafkaSubscription, to_message

log = logging.getLogger(__name__)


class Listener(KafkaSubscription):
    """A groupless reader of every partition of ``topic``, from the end it had at ``start()``."""

    def __init__(
        self,
        options: KafkaOptions,
        topic: str,
        handler: BatchHandler,
        *,
        partitions: Callable[[str], Awaitable[list[int]]],
        on_closed: Callable[[KafkaSubscription], None] | None = None,
    ) -> None:
        super().__init__(options, handler, f"kafka-bus-listen-{topic}", on_closed=on_closed)
        self.topic = topic
        # The bus's partition lookup (its admin client): never a metadata request that could
        # auto-create the topic.
        self._partitions = partitions

    def _make_consumer(self) -> AIOKafkaConsumer:
        return self._options.consumer(None, max_batch=1000)

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        deadline = time.monotonic() + self._options.start_timeout
        partitions = await self._partitions(self.topic)
        while not partitions:
            if time.monotonic() > deadline:
                raise BusError(f"topic {self.topic} does not exist")
            await asyncio.sleep(0.2)
            partitions = await self._partitions(self.topic)
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
                batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            except ConsumerStoppedError:
                return
            except Exception:
                # A fetch that failed (KafkaError) or anything unforeseen: the loop goes on.
                log.exception("fetch failed", extra={"topic": self.topic})
                await asyncio.sleep(self._options.retry_backoff[0])
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
