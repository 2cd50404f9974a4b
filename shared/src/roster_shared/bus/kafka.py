"""The Kafka implementation of :class:`~roster_shared.bus.base.Bus` (aiokafka).

aiokafka's defaults are unsafe for us (FACTS.md), so every one that matters is set here:

* the producer is idempotent with ``acks=all``, and a send is bounded by ``send_timeout``
  because an idempotent producer otherwise waits through a broker outage;
* consumers never auto-commit: a group member commits the offset after a batch only once the
  handler has returned (at-least-once), reads ``read_committed``, starts a fresh group at the
  earliest offset, and fetches with a short ``fetch_max_wait_ms`` because SCIM requests wait on
  the round trip through the user-store;
* on a rebalance the member finishes the batch in hand and commits it before its partitions go,
  so a healthy group delivers each message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ConsumerStoppedError,
    IllegalStateError,
    KafkaError,
    TopicAlreadyExistsError,
    for_code,
)

from roster_shared.bus.base import (
    BatchHandler,
    Bus,
    BusError,
    Headers,
    Message,
    Record,
    Subscription,
)
from roster_shared.topics import TopicSpec

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_POLL_TIMEOUT_MS = 500
_RETRY_BACKOFF_MIN = 0.1
_RETRY_BACKOFF_MAX = 5.0


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


class KafkaBus(Bus):
    """A :class:`Bus` on Apache Kafka.

    ``bootstrap`` is the broker list (``host:port[,host:port]``). ``replication`` is the
    replication factor of topics made by :meth:`ensure_topics` (3 in production, 1 on a single
    broker). ``send_timeout`` bounds one ``send_batch`` in seconds. The consumer timings
    (``session_timeout_ms``, ``heartbeat_interval_ms``, ``max_poll_interval_ms``) are Kafka's:
    a member that stops heartbeating for the session timeout, or whose handler holds a batch
    longer than the poll interval, loses its partitions. ``start_timeout`` bounds how long a
    subscription's ``start()`` waits to join its group.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "roster",
        replication: int = 1,
        send_timeout: float = 30.0,
        request_timeout_ms: int = 15_000,
        linger_ms: int = 5,
        fetch_max_wait_ms: int = 20,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        max_poll_interval_ms: int = 300_000,
        start_timeout: float = 60.0,
        retry_backoff: tuple[float, float] = (_RETRY_BACKOFF_MIN, _RETRY_BACKOFF_MAX),
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.replication = replication
        self.send_timeout = send_timeout
        self.request_timeout_ms = request_timeout_ms
        self.linger_ms = linger_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.max_poll_interval_ms = max_poll_interval_ms
        self.start_timeout = start_timeout
        self.retry_backoff = retry_backoff
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._subscriptions: list[_KafkaSubscription] = []

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer and the admin client."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            request_timeout_ms=self.request_timeout_ms,
        )
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-admin",
            request_timeout_ms=self.request_timeout_ms,
        )
        try:
            await producer.start()
            await admin.start()
        except KafkaError as exc:
            await producer.stop()
            await admin.close()
            raise BusError(f"cannot connect to Kafka at {self.bootstrap}: {exc}") from exc
        self._producer = producer
        self._admin = admin

    async def stop(self) -> None:
        """Stop every subscription made from this bus, then flush and close the producer."""
        for subscription in list(self._subscriptions):
            await subscription.stop()
        producer, self._producer = self._producer, None
        admin, self._admin = self._admin, None
        try:
            if producer is not None:
                await producer.stop()
        finally:
            if admin is not None:
                await admin.close()

    def _forget(self, subscription: _KafkaSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    # -- topics ------------------------------------------------------------------------------

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create missing topics; returns once every topic's partitions have leaders."""
        admin = self._require(self._admin)
        specs = list(specs)
        if not specs:
            return
        new_topics = [
            NewTopic(
                name=spec.name,
                num_partitions=spec.partitions,
                replication_factor=self.replication,
                topic_configs=dict(spec.config),
            )
            for spec in specs
        ]
        try:
            response = await admin.create_topics(new_topics)
        except KafkaError as exc:
            raise BusError(f"cannot create topics: {exc}") from exc
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            error = for_code(code)
            if code == 0 or error is TopicAlreadyExistsError:
                continue
            detail = entry[2] if len(entry) > 2 else ""
            raise BusError(f"cannot create topic {name}: {error.__name__} {detail or ''}".strip())
        await self._wait_for_topics([spec.name for spec in specs])

    async def _wait_for_topics(self, names: list[str]) -> None:
        admin = self._require(self._admin)
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                described = await admin.describe_topics(names)
            except KafkaError as exc:
                described, last = [], str(exc)
            else:
                last = ""
            missing = set(names)
            for topic in described:
                partitions = topic.get("partitions") or []
                if (
                    topic.get("error_code") == 0
                    and partitions
                    and all(p.get("leader", -1) >= 0 for p in partitions)
                ):
                    missing.discard(topic["topic"])
            if not missing:
                return
            if time.monotonic() > deadline:
                raise BusError(f"topics not ready: {sorted(missing)} {last}".strip())
            await asyncio.sleep(0.05)

    # -- sending -----------------------------------------------------------------------------

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Send all records, then wait until the broker acknowledged every one (``acks=all``)."""
        producer = self._require(self._producer)
        if not records:
            return

        async def send_all() -> None:
            futures = [
                await producer.send(
                    record.topic,
                    value=record.value,
                    key=record.key.encode("utf-8"),
                    headers=list(record.headers) or None,
                )
                for record in records
            ]
            await asyncio.gather(*futures)

        try:
            await asyncio.wait_for(send_all(), self.send_timeout)
        except TimeoutError as exc:
            raise BusError(
                f"{len(records)} record(s) not acknowledged within {self.send_timeout:g}s"
            ) from exc
        except KafkaError as exc:
            raise BusError(f"send failed: {exc}") from exc

    # -- consuming ---------------------------------------------------------------------------

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        max_batch: int = 500,
    ) -> Subscription:
        """A member of consumer group ``group``; ``start()`` returns once it joined."""
        subscription = _GroupSubscription(self, group, tuple(topics), handler, max_batch)
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader of every partition of ``topic`` from its current end."""
        subscription = _ListenSubscription(self, topic, handler)
        self._subscriptions.append(subscription)
        return subscription

    def _consumer(self, group: str | None, *, max_batch: int) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            request_timeout_ms=self.request_timeout_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            max_poll_interval_ms=self.max_poll_interval_ms,
            max_poll_records=max_batch,
        )

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise BusError("bus not started")
        return value


class _KafkaSubscription(Subscription):
    """Shared lifecycle: a consumer, a background loop, a lock around each batch."""

    def __init__(self, bus: KafkaBus, handler: BatchHandler, name: str) -> None:
        super().__init__()
        self._bus = bus
        self._handler = handler
        self._name = name
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Held while a batch is handled and committed; stop() and a rebalance wait for it.
        self._batch_lock = asyncio.Lock()

    async def start(self) -> None:
        if self._consumer is not None:
            return
        self._consumer = self._make_consumer()
        try:
            await self._consumer.start()
            await self._prepare(self._consumer)
            self._task = asyncio.create_task(self._run(self._consumer), name=self._name)
            ready = asyncio.create_task(self.ready.wait())
            done, _ = await asyncio.wait(
                {ready, self._task},
                timeout=self._bus.start_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            ready.cancel()
            if not self.ready.is_set():
                if self._task in done and not self._task.cancelled() and self._task.exception():
                    raise BusError(f"{self._name} failed to start") from self._task.exception()
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

    async def _shutdown(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # asyncio.wait, not await: the task may already have ended cancelled (a handler that
            # was cancelled mid-batch), and that must not surface as our own cancellation.
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("%s loop failed", self._name, exc_info=task.exception())
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
        self._bus._forget(self)

    def _make_consumer(self) -> AIOKafkaConsumer:
        raise NotImplementedError

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        """Subscribe or assign, after the consumer started."""

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError


class _RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscription: _GroupSubscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._subscription._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._subscription._on_assigned(assigned)


class _GroupSubscription(_KafkaSubscription):
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
                batches = await consumer.getmany(
                    timeout_ms=_POLL_TIMEOUT_MS, max_records=self.max_batch
                )
            except ConsumerStoppedError:
                return
            except KafkaError:
                log.exception("fetch failed", extra={"group": self.group})
                await asyncio.sleep(backoff)
                backoff = min(high, backoff * 2)
                continue
            failed = False
            async with self._batch_lock:
                for tp, records in batches.items():
                    if self._stopping or generation != self._generation:
                        # Revoked or stopping while we fetched: the next owner (or the next
                        # start) reads these from the committed offset.
                        break
                    if not records:
                        continue
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
                        failed = True
                        continue
                    try:
                        await consumer.commit({tp: messages[-1].offset + 1})
                    except (KafkaError, IllegalStateError):
                        # The partition moved to another member; it will redeliver from the
                        # last committed offset (at-least-once).
                        log.warning(
                            "commit failed; batch may be redelivered",
                            exc_info=True,
                            extra={
                                "group": self.group,
                                "topic": tp.topic,
                                "partition": tp.partition,
                            },
                        )
                        break
            if failed:
                await asyncio.sleep(backoff)
                backoff = min(high, backoff * 2)
            elif batches:
                backoff = low


class _ListenSubscription(_KafkaSubscription):
    def __init__(self, bus: KafkaBus, topic: str, handler: BatchHandler) -> None:
        super().__init__(bus, handler, f"kafka-bus-listen-{topic}")
        self.topic = topic

    def _make_consumer(self) -> AIOKafkaConsumer:
        return self._bus._consumer(None, max_batch=1000)

    async def _prepare(self, consumer: AIOKafkaConsumer) -> None:
        deadline = time.monotonic() + self._bus.start_timeout
        partitions: set[int] | None = consumer.partitions_for_topic(self.topic)
        while not partitions:
            if time.monotonic() > deadline:
                raise BusError(f"topic {self.topic} does not exist")
            await consumer.topics()  # refreshes the metadata of every topic
            partitions = consumer.partitions_for_topic(self.topic)
            if not partitions:
                await asyncio.sleep(0.1)
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
