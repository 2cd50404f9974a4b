"""A Kafka consumer-group member: hands each partition's records to the handler, then commits.

The loop does not wait for its commits: a handled batch's next offset is handed to a commit
task, which commits what it was given (the latest offset of each partition, several partitions in
one request), one commit at a time, so offsets never go back; the loop meanwhile fetches and
handles the next batch. An offset commit is a write to ``__consumer_offsets`` that the broker's
group coordinator answers after its append linger — 5.7-5.8 ms on Kafka 4.1 with its defaults,
measured on this machine, more than the rest of applying a lone SCIM create — and waiting for it
held every next record that long (issue 10). At-least-once is unchanged: an offset is only ever
committed after its batch was handled; a revocation, a stop and a loop that dies all wait until
the offsets handed over are committed before the partitions go. A commit that fails (the group
rebalanced under us) stops the round, as before.

A handler that raises gets the same records again after a backoff of their partition alone: the
partition is paused (``consumer.pause``) until its backoff ends, while the others go on. With
``across_partitions`` one batch holds every partition's records of a fetch (each partition's in
order): one handler call, e.g. one database transaction, for all of them. When such a batch
fails, its partitions are handed over one at a time from then on, each until it succeeds, so
only the partition that keeps failing backs off. On a
rebalance, the revocation waits for the batch in hand, so its commit lands while the partitions
are still ours; records fetched before a revocation are not handed over (their new owner reads
them from the committed offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError, KafkaError

from roster_shared.bus.base import BatchHandler
from roster_shared.bus.kafka.options import KafkaOptions
from roster_shared.bus.kafka.subscription import POLL_TIMEOUT_MS, KafkaSubscription, to_message

log = logging.getLogger(__name__)


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscription: GroupMember) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._subscription._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._subscription._on_assigned(assigned)


class GroupMember(KafkaSubscription):
    """A member of consumer group ``group``: commits after each handled batch (at-least-once)."""

    def __init__(
        self,
        options: KafkaOptions,
        group: str,
        topics: tuple[str, ...],
        handler: BatchHandler,
        max_batch: int,
        *,
        across_partitions: bool = False,
        on_closed: Callable[[KafkaSubscription], None] | None = None,
    ) -> None:
        super().__init__(options, handler, f"kafka-bus-group-{group}", on_closed=on_closed)
        self.group = group
        self.topics = topics
        self.max_batch = max_batch
        self.across_partitions = across_partitions
        # Partitions whose records were in a batch that failed: handed over alone until they
        # succeed, so that a failing one backs off by itself (across_partitions).
        self._alone: set[TopicPartition] = set()
        # Bumped when partitions are revoked: a fetched result from before is stale.
        self._generation = 0
        # Per partition: failures in a row, paused until (monotonic), next offset to handle.
        self._failures: dict[TopicPartition, int] = {}
        self._paused: dict[TopicPartition, float] = {}
        self._positions: dict[TopicPartition, int] = {}
        # Offsets handed to the commit task and not yet sent, the task, and whether a commit
        # it sent failed since the loop last looked (module docstring).
        self._to_commit: dict[TopicPartition, int] = {}
        self._committing: asyncio.Task[None] | None = None
        self._commit_failed = False

    def _make_consumer(self) -> AIOKafkaConsumer:
        return self._options.consumer(self.group, max_batch=self.max_batch)

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        consumer.subscribe(list(self.topics), listener=_RebalanceListener(self))

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self._generation += 1
        # Let the batch in hand finish and commit while the partitions are still ours.
        async with self._batch_lock:
            await self._settle()
            # A commit that failed before is the old assignment's: the new one starts clean.
            self._commit_failed = False
            for tp in revoked:
                # Its next owner (maybe us again) starts afresh from the committed offset.
                self._failures.pop(tp, None)
                self._paused.pop(tp, None)
                self._positions.pop(tp, None)
                self._alone.discard(tp)
            log.info(
                "partitions revoked",
                extra={"group": self.group, "partitions": _names(revoked)},
            )

    def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"group": self.group, "partitions": _names(assigned)})
        self.ready.set()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        # Nothing a round raises ends the loop: a fetch that fails, or anything unforeseen,
        # is logged and tried again after a backoff. Only stop() (or a cancellation) ends it.
        low, high = self._options.retry_backoff
        backoff = low
        while not self._stopping:
            try:
                await self._round(consumer)
            except ConsumerStoppedError:
                return
            except Exception:
                log.exception("consumer round failed; retrying", extra={"group": self.group})
                await asyncio.sleep(backoff)
                backoff = min(high, backoff * 2)
            else:
                backoff = low

    async def _round(self, consumer: AIOKafkaConsumer) -> None:
        """Fetch once and hand each partition's records over; a partition whose handler failed
        is paused for its own backoff while the others go on."""
        self._resume_due(consumer)
        generation = self._generation
        fetched = await consumer.getmany(timeout_ms=self._poll_ms(), max_records=self.max_batch)
        parts = [(tp, records) for tp, records in fetched.items() if records]
        # Each batch is a list of (partition, its records): one part, or all that go together.
        pending = [[part] for part in parts]
        if self.across_partitions:
            together = [part for part in parts if part[0] not in self._alone]
            alone = [[part] for part in parts if part[0] in self._alone]
            pending = ([together] if together else []) + alone
        async with self._batch_lock:
            while pending:
                if self._stopping or generation != self._generation:
                    # Stopping, or partitions were revoked since the fetch: hand nothing
                    # more over. Whoever owns these partitions now (maybe us again) reads
                    # them from the committed offset.
                    break
                batch = pending.pop(0)
                for tp, records in batch:
                    self._positions.setdefault(tp, records[0].offset)
                if not await self._handle(consumer, batch):
                    if len(batch) > 1:
                        # Which partition failed is not known: each goes alone next time,
                        # from where it was, and only one that fails alone backs off.
                        self._alone.update(tp for tp, _ in batch)
                    else:
                        self._back_off(consumer, batch[0][0])
                    continue
                for tp, records in batch:
                    self._failures.pop(tp, None)
                    self._alone.discard(tp)
                    self._positions[tp] = offset = records[-1].offset + 1
                    self._commit_later(consumer, tp, offset)
                if self._commit_failed:
                    # A commit failed: the group is rebalancing under us.
                    self._commit_failed = False
                    break
            # Records fetched but not handed over are read again from their first offset
            # (the consumer's position already moved past them).
            for tp, records in (one for batch in pending for one in batch):
                with contextlib.suppress(IllegalStateError):
                    consumer.seek(tp, records[0].offset)
        self._track(consumer)

    # -- per-partition backoff -------------------------------------------------------------

    def _back_off(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """Pause ``tp`` for a backoff that doubles with each failure in a row (its own)."""
        low, high = self._options.retry_backoff
        failures = self._failures[tp] = self._failures.get(tp, 0) + 1
        delay = min(high, low * 2 ** (failures - 1))
        self._paused[tp] = time.monotonic() + delay
        with contextlib.suppress(IllegalStateError):
            consumer.pause(tp)

    def _resume_due(self, consumer: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        for tp, until in list(self._paused.items()):
            if until <= now:
                del self._paused[tp]
                with contextlib.suppress(IllegalStateError):
                    consumer.resume(tp)

    def _poll_ms(self) -> int:
        """How long a fetch may wait: the poll timeout, or less when a pause ends sooner."""
        if not self._paused:
            return POLL_TIMEOUT_MS
        soonest = min(self._paused.values()) - time.monotonic()
        return max(0, min(POLL_TIMEOUT_MS, int(soonest * 1000) + 1))

    # -- progress --------------------------------------------------------------------------

    def _track(self, consumer: AIOKafkaConsumer) -> None:
        assigned = consumer.assignment()
        owned = []
        for tp in assigned:
            end = consumer.highwater(tp)
            position = self._positions.get(tp, end if end is not None else 0)
            self._tracker.seen(tp.topic, tp.partition, position, end)
            owned.append((tp.topic, tp.partition))
        self._tracker.forget(owned)

    async def _handle(
        self, consumer: AIOKafkaConsumer, batch: list[tuple[TopicPartition, Any]]
    ) -> bool:
        """Hand one batch (one partition's records, or several partitions' in turn) over; on
        a failure every partition in it is read again from the batch's first record of it."""
        # Never raises on content.
        messages = [to_message(record) for _, records in batch for record in records]
        try:
            await self._handler(messages)
        except Exception:
            log.exception(
                "handler failed; batch will be redelivered",
                extra={
                    "group": self.group,
                    "partitions": _names(tp for tp, _ in batch),
                    "offsets": [records[0].offset for _, records in batch],
                },
            )
            for tp, records in batch:
                with contextlib.suppress(IllegalStateError):
                    consumer.seek(tp, records[0].offset)
            return False
        return True

    def _commit_later(self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> None:
        self._to_commit[tp] = offset
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_pending(consumer))

    async def _commit_pending(self, consumer: AIOKafkaConsumer) -> None:
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            if not await self._commit(consumer, offsets):
                self._commit_failed = True

    async def _settle(self) -> None:
        task = self._committing
        if task is not None:
            # asyncio.wait, not await: the task's own end (even cancelled) is not ours.
            await asyncio.wait({task})

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> bool:
        try:
            await consumer.commit(offsets)
        except (KafkaError, IllegalStateError, ConsumerStoppedError):
            # The group rebalanced under us (or we are leaving): the partitions' owner
            # redelivers from the last committed offsets (at-least-once).
            log.warning(
                "commit failed; batches may be redelivered",
                exc_info=True,
                extra={"group": self.group, "partitions": _names(offsets)},
            )
            return False
        return True


def _names(tps: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)
