"""The Kafka implementation of :class:`~roster_shared.bus.base.Bus` (aiokafka).

aiokafka's defaults are unsafe for us (``acks=1``, no idempotence, auto-commit,
``read_uncommitted``, a 500 ms fetch wait), so every one that matters is set here:

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
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from roster_shared.bus.base import BatchHandler, Bus, BusError, Record, Subscription
from roster_shared.bus.kafka_subscriptions import GroupMember, KafkaSubscription, Listener
from roster_shared.settings import RosterSettings
from roster_shared.topics import TopicSpec

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class KafkaBus(Bus):
    """A :class:`Bus` on Apache Kafka.

    ``bootstrap`` is the broker list (``host:port[,host:port]``). ``replication`` is the
    replication factor of topics made by :meth:`ensure_topics` (3 in production, 1 on a single
    broker). ``send_timeout`` bounds one ``send_batch`` in seconds. The consumer timings
    (``session_timeout_ms``, ``heartbeat_interval_ms``, ``max_poll_interval_ms``) are Kafka's:
    a member that stops heartbeating for the session timeout, or whose handler holds a batch
    longer than the poll interval, loses its partitions. ``start_timeout`` bounds how long a
    subscription's ``start()`` waits to join its group. A handler that raises is retried after
    a backoff growing from ``retry_backoff[0]`` to ``retry_backoff[1]`` seconds.
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
        retry_backoff: tuple[float, float] = (0.1, 5.0),
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
        self._subscriptions: list[KafkaSubscription] = []

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

    def _forget(self, subscription: KafkaSubscription) -> None:
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

    async def _partitions(self, topic: str) -> list[int]:
        """The partition ids of ``topic``, empty if it does not exist (never auto-creates it)."""
        admin = self._require(self._admin)
        # Asking for every topic: a metadata request naming a missing topic would create it
        # when the broker allows auto-creation.
        for described in await admin.describe_topics():
            if described["topic"] == topic and described["error_code"] == 0:
                return sorted(p["partition"] for p in described["partitions"])
        return []

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
        subscription = GroupMember(self, group, tuple(topics), handler, max_batch)
        self._subscriptions.append(subscription)
        return subscription

    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader of every partition of ``topic`` from its current end."""
        subscription = Listener(self, topic, handler)
        self._subscriptions.append(subscription)
        return subscription

    def _consumer(self, group: str | None, *, max_batch: int) -> AIOKafkaConsumer:
        """A consumer with every setting that matters made explicit (see the module docstring)."""
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
