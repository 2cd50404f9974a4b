"""The Kafka implementation of :class:`~roster_shared.bus.base.Bus` (aiokafka).

The bus composes the pieces of this package, each configured by one frozen
:class:`~roster_shared.bus.kafka.options.KafkaOptions`:

* :mod:`.producer`: idempotent, ``acks=all``, every send bounded by ``send_timeout``;
* :mod:`.topics`: topic creation and partition lookup through the admin client;
* :mod:`.group` and :mod:`.listener`: consumers that never auto-commit (a group member commits
  after the handler returns, at-least-once), read ``read_committed``, and on a rebalance finish
  and commit the batch in hand before their partitions go, so a healthy group delivers each
  message once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from roster_shared.bus.base import BatchHandler, Bus, BusError, Message, Record, Subscription
from roster_shared.bus.kafka.group import GroupMember
from roster_shared.bus.kafka.listener import Listener
from roster_shared.bus.kafka.options import KafkaOptions
from roster_shared.bus.kafka.producer import Producer
from roster_shared.bus.kafka.subscription import KafkaSubscription, to_message
from roster_shared.bus.kafka.topics import TopicAdmin
from roster_shared.settings import RosterSettings
from roster_shared.topics import TopicSpec

_T = TypeVar("_T")

REACHABLE_GRACE = 10.0
"""Seconds since the broker last answered for which :meth:`KafkaBus.reachable` still says so."""


class KafkaBus(Bus):
    """A :class:`Bus` on Apache Kafka.

    The keyword arguments are the fields of :class:`KafkaOptions` (documented there), kept as
    :attr:`options`.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "roster",
        replication: int = 1,
        send_timeout: float = 30.0,
        request_timeout_ms: int = 15_000,
        linger_ms: int = 0,
        fetch_max_wait_ms: int = 20,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 1_000,
        max_poll_interval_ms: int = 300_000,
        start_timeout: float = 60.0,
        retry_backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self.options = KafkaOptions(
            bootstrap=bootstrap,
            client_id=client_id,
            replication=replication,
            send_timeout=send_timeout,
            request_timeout_ms=request_timeout_ms,
            linger_ms=linger_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=max_poll_interval_ms,
            start_timeout=start_timeout,
            retry_backoff=retry_backoff,
        )
        self._producer: Producer | None = None
        self._admin: TopicAdmin | None = None
        self._subscriptions: list[KafkaSubscription] = []
        self._asked_at = 0.0
        self._answered_at = -REACHABLE_GRACE  # never, until start() connects

    @property
    def bootstrap(self) -> str:
        """The broker list this bus connects to."""
        return self.options.bootstrap

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect the producer and the admin client."""
        if self._producer is not None:
            return
        producer = Producer(self.options)
        admin = TopicAdmin(self.options)
        try:
            await producer.start()
            await admin.start()
        except KafkaError as exc:
            await producer.stop()
            await admin.close()
            raise BusError(f"cannot connect to Kafka at {self.bootstrap}: {exc}") from exc
        self._producer = producer
        self._admin = admin
        self._answered_at = time.monotonic()  # it just answered

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

    def _forget(self, subscription: KafkaSubscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(subscription)

    # -- topics ------------------------------------------------------------------------------

    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create missing topics; returns once every topic's partitions have leaders."""
        await self._require(self._admin).ensure(specs)

    async def reachable(self) -> bool:
        """True when the broker answered a metadata request within the last
        ``REACHABLE_GRACE`` seconds (each ask bounded by 2 s; readiness probes call this, so an
        answer is reused for a second). The grace keeps one slow answer on a busy broker from
        taking every instance out of service at once; a broker that is gone is noticed within
        it."""
        admin = self._admin
        if admin is None:
            return False
        now = time.monotonic()
        if now - self._asked_at > 1.0:
            self._asked_at = now
            if await admin.reachable(2.0):
                self._answered_at = time.monotonic()
        return time.monotonic() - self._answered_at < REACHABLE_GRACE

    async def _partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``, empty if it does not exist (never auto-creates it)."""
        return await self._require(self._admin).partitions(topic)

    # -- sending -----------------------------------------------------------------------------

    async def send_batch(self, records: Sequence[Record]) -> None:
        """Send all records, then wait until the broker acknowledged every one (``acks=all``)."""
        await self._require(self._producer).send_batch(records)

    async def read(self, topic: str, *, limit: int = 10_000) -> list[Message]:
        """Every record of ``topic`` from its beginning to its end as of now, at most
        ``limit``: a groupless consumer that commits nothing (bounded by ``start_timeout``)."""
        partitions = await self._partitions(topic)
        if not partitions:
            return []
        consumer = self.options.consumer(None, max_batch=1000)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            out: list[Message] = []
            async with asyncio.timeout(self.options.start_timeout):
                while len(out) < limit:
                    positions = {tp: await consumer.position(tp) for tp in tps}
                    if all(positions[tp] >= ends[tp] for tp in tps):
                        break
                    fetched = await consumer.getmany(timeout_ms=500, max_records=1000)
                    for tp, records in fetched.items():
                        out.extend(to_message(r) for r in records if r.offset < ends[tp])
            return out[:limit]
        finally:
            await consumer.stop()

    # -- consuming ---------------------------------------------------------------------------

    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        max_batch: int = 500,
        across_partitions: bool = False,
    ) -> Subscription:
        """A member of consumer group ``group``; ``start()`` returns once it joined."""
        subscription = GroupMember(
            self.options,
            group,
            tuple(topics),
            handler,
            max_batch,
            across_partitions=across_partitions,
            on_closed=self._forget,
        )
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader of every partition of ``topic`` from its current end."""
        subscription = Listener(
            self.options, topic, handler, partitions=self._partitions, on_closed=self._forget
        )
        self._subscriptions.append(subscription)
        return subscription

    @staticmethod
    def _require(value: _T | None) -> _T:
        if value is None:
            raise BusError("bus not started")
        return value


def kafka_bus_for(settings: RosterSettings, service: str) -> KafkaBus:
    """The Kafka bus a standalone service runs on, from the common settings.

    Only `roster dev` composes services in one process, so a service started on its own needs a
    broker: a missing ``ROSTER_KAFKA_BOOTSTRAP`` is a clear error at start, not a silent
    fallback to a bus nobody else can see.
    """
    if not settings.kafka_bootstrap:
        raise ValueError(
            f"ROSTER_KAFKA_BOOTSTRAP is required to run the {service} on its own "
            "(the in-process bus only exists inside `roster dev`)"
        )
    return KafkaBus(
        settings.kafka_bootstrap,
        client_id=f"{settings.kafka_client_id}-{service}",
        replication=settings.topic_replication,
    )
