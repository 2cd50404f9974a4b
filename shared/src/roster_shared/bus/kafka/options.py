"""How the Kafka bus talks to the broker: one frozen set of options, and the clients built from it.

aiokafka's defaults are unsafe for us, so every setting that matters is spelled out here, once:

* the producer is idempotent with ``acks=all`` (a send is bounded by ``send_timeout`` elsewhere,
  because an idempotent producer otherwise waits through a broker outage);
* consumers never auto-commit (a group member commits after the handler returns), read
  ``read_committed``, start a fresh group at the earliest offset, and fetch with
  ``fetch_min_bytes=1`` so a record is returned the moment it arrives (the fetch wait mostly
  bounds how often an idle consumer asks again: long for listeners, short for group members).

The bus, its producer, its topic admin and its subscriptions all receive this object, so none
of them reaches into another's attributes for a setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from roster_shared.bus.kafka.partitioner import KeyPartitioner


@dataclass(frozen=True, slots=True)
class KafkaOptions:
    """The settings of one :class:`~roster_shared.bus.kafka.KafkaBus`.

    ``bootstrap`` is the broker list (``host:port[,host:port]``). ``replication`` is the
    replication factor of topics the bus creates (3 in production, 1 on a single broker).
    ``send_timeout`` bounds one ``send_batch`` in seconds. The consumer timings
    (``session_timeout_ms``, ``heartbeat_interval_ms``, ``max_poll_interval_ms``) are Kafka's:
    a member that stops heartbeating for the session timeout, or whose handler holds a batch
    longer than the poll interval, loses its partitions. ``start_timeout`` bounds how long a
    subscription's ``start()`` waits to join its group (and topic creation waits for leaders).
    A handler that raises is retried after a backoff growing from ``retry_backoff[0]`` to
    ``retry_backoff[1]`` seconds.

    ``linger_ms`` is 0: a lone record (a SCIM request's event, a reply) leaves at once instead
    of waiting for company, and under load records still travel together, because the idempotent
    producer has one request in flight per broker and batches whatever queued behind it
    (measured with ``bench/compare.py``, issue 10).

    ``max_batch_bytes`` is 256 KiB (aiokafka's default is 16 KiB): one produce request carries one
    batch per partition, so the outbox relay's 1,000 records of a tenant took ~40 requests one
    after another at 16 KiB. With the producer's own batches (``producer.py``) a bare producer
    sent 600-byte records at 179,000 /s and 2.1 µs CPU each against 93,000 /s and 8.5 µs at 16
    KiB. It stays well under the broker's 1 MB ``message.max.bytes``.

    ``fetch_min_bytes`` is 1: the broker answers a fetch at its first record, so the wait only
    sets how often an idle consumer asks again. A groupless reader (the reply listeners of the
    scim-api and sso-login) waits ``listen_fetch_max_wait_ms`` = 500 (Kafka's default): at 20
    each idle listener spent ~27 ms of CPU a second (``bench/fetch_wait.py``, 3 rounds, load
    4-5: idle 2.5-3 vs 26.5-27.5 ms CPU/s, a lone record's p50 latency 2.0-4.3 vs 2.6-4.9 ms;
    ``fetch_min_bytes=1024`` instead added ~20 ms to every lone reply). A group member (the
    user-store's ingest consumer) keeps ``fetch_max_wait_ms`` = 20, because aiokafka has one
    fetch in flight per broker: when a partition's records wait more than its prefetch backoff
    (100 ms) for the handler, it fetches the *other* partitions, and the busy partition's next
    fetch waits for that one to end. With one busy tenant's partition and a batch handler
    slower than 100 ms under load, that is up to the whole wait per batch: with 500 for every
    consumer, new-user logins at concurrency 16 ran at 0.54-0.62x of 20's rate
    (``bench/sso_logins.py --serve --before``, p50 504 vs 267 ms). Reply records spread over
    every partition (keyed by event id), so a listener's in-flight fetch ends at the next reply.
    """

    bootstrap: str
    client_id: str = "roster"
    replication: int = 1
    send_timeout: float = 30.0
    request_timeout_ms: int = 15_000
    linger_ms: int = 0
    max_batch_bytes: int = 262_144
    fetch_max_wait_ms: int = 20
    listen_fetch_max_wait_ms: int = 500
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    max_poll_interval_ms: int = 300_000
    start_timeout: float = 60.0
    retry_backoff: tuple[float, float] = (0.1, 5.0)

    def producer(self, partitioner: KeyPartitioner) -> AIOKafkaProducer:
        """An idempotent producer that waits for every in-sync replica (``acks=all``), placing
        keyed records with ``partitioner`` (the one the caller places its batches with)."""
        return AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            max_batch_size=self.max_batch_bytes,
            partitioner=partitioner,
            request_timeout_ms=self.request_timeout_ms,
        )

    def admin(self) -> AIOKafkaAdminClient:
        """The admin client that creates and describes topics."""
        return AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap,
            client_id=f"{self.client_id}-admin",
            request_timeout_ms=self.request_timeout_ms,
        )

    def consumer(self, group: str | None, *, max_batch: int) -> AIOKafkaConsumer:
        """A consumer (a group member, or groupless with ``group`` None) that never auto-commits."""
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            fetch_max_wait_ms=(
                self.fetch_max_wait_ms if group is not None else self.listen_fetch_max_wait_ms
            ),
            fetch_min_bytes=1,
            request_timeout_ms=self.request_timeout_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            max_poll_interval_ms=self.max_poll_interval_ms,
            max_poll_records=max_batch,
        )
