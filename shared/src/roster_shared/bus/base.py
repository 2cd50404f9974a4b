"""The message bus interface: Kafka in production, an in-process log for the embedded mode.

Both implementations keep the same contract, and one test suite checks both:

* ``send`` / ``send_batch`` return only once every record is durably accepted (Kafka:
  ``acks=all`` on an idempotent producer), and records with the same key keep their order.
* ``subscribe`` joins a consumer group. The handler gets batches of messages from one partition,
  in offset order; the offset after the batch is committed only after the handler returns, so a
  crash redelivers the batch (at-least-once). A handler that raises is retried with backoff from
  the first message of the failed batch, after a backoff that holds up that partition only
  (the others go on); poison messages are the handler's to dead-letter. Nothing a handler
  raises stops the subscription.
* A subscription reports whether it is :attr:`~Subscription.alive` and how far each partition
  it owns has come (:meth:`~Subscription.progress`); a loop that ends on its own (a bug) calls
  :attr:`~Subscription.on_death` once, so the service can report not ready and exit.
* ``listen`` reads a topic from its end without a group, for every instance to see every message
  (request/reply). ``ready`` is set once reading has started, so nothing sent after it is missed.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from roster_shared.topics import TopicSpec

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """A message to send. ``value`` None is a tombstone (compacted topics)."""

    topic: str
    key: str
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Message:
    """A message as delivered to a consumer.

    ``key`` is the key as text, None when there is none or it is not UTF-8; ``raw_key`` holds
    the bytes when the bus has them (Kafka), so a handler can tell the two apart and dead-letter
    a record whose key no producer of ours could have written.
    """

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0
    raw_key: bytes | None = None

    @property
    def undecodable_key(self) -> bool:
        """True when the record has a key that is not UTF-8 text."""
        return self.key is None and self.raw_key is not None

    def header(self, name: str) -> bytes | None:
        """The first header of that name, if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BusError(Exception):
    """The bus could not do what was asked (broker unreachable, send timed out)."""


@dataclass(frozen=True, slots=True)
class PartitionProgress:
    """How far a subscription has come in one partition it owns.

    ``position`` is the next offset to hand over (everything before it is handled and
    committed), ``end`` the partition's end as last seen (None before it is known), and
    ``stalled_for`` how many seconds records have been waiting without ``position`` moving
    (0 while it keeps up).
    """

    topic: str
    partition: int
    position: int
    end: int | None
    stalled_for: float

    @property
    def lag(self) -> int:
        """Records waiting (0 when the end is not known yet)."""
        return max(0, (self.end or 0) - self.position)


class ProgressTracker:
    """Per-partition positions, ends and the time each last moved, for :meth:`progress`."""

    def __init__(self) -> None:
        self._state: dict[tuple[str, int], tuple[int, int | None, float]] = {}

    def seen(self, topic: str, partition: int, position: int, end: int | None) -> None:
        """Record the position and end of a partition; the clock restarts when the position
        moves, or when nothing was waiting."""
        now = time.monotonic()
        old = self._state.get((topic, partition))
        if old is None or position != old[0] or old[1] is None or old[1] <= old[0]:
            since = now
        else:
            since = old[2]
        self._state[(topic, partition)] = (position, end, since)

    def forget(self, keep: Iterable[tuple[str, int]]) -> None:
        """Drop the partitions no longer owned."""
        keep = set(keep)
        for key in list(self._state):
            if key not in keep:
                del self._state[key]

    def snapshot(self) -> list[PartitionProgress]:
        """Every partition known, with how long its waiting records have been waiting."""
        now = time.monotonic()
        out = []
        for (topic, partition), (position, end, since) in sorted(self._state.items()):
            waiting = end is not None and end > position
            out.append(
                PartitionProgress(topic, partition, position, end, now - since if waiting else 0)
            )
        return out


class Subscription(abc.ABC):
    """A running consumer; stop it to leave the group cleanly."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.on_death: Callable[[str], None] | None = None
        """Called once, with a reason, if the subscription's loop ends without ``stop()``."""
        self.death: str | None = None
        self._stopped = False
        self._tracker = ProgressTracker()

    @property
    def alive(self) -> bool:
        """True from ``start()`` until ``stop()``, unless the loop died in between."""
        return self.ready.is_set() and not self._stopped and self.death is None

    def progress(self) -> list[PartitionProgress]:
        """How far each owned partition has come (group members; empty for listeners)."""
        return self._tracker.snapshot()

    def _died(self, reason: str) -> None:
        if self.death is not None:
            return
        self.death = reason
        if self.on_death is not None:
            self.on_death(reason)

    @abc.abstractmethod
    async def start(self) -> None:
        """Start consuming in the background; returns once ``ready`` is set."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Finish the batch in hand, commit it, and leave."""


class Bus(abc.ABC):
    """Send and consume keyed messages."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Flush and disconnect; subscriptions made from this bus stop too."""

    @abc.abstractmethod
    async def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        """Create the topics that do not exist yet, with their configuration."""

    async def reachable(self) -> bool:
        """True when the broker answers now (readiness); the in-process bus always does."""
        return True

    async def read(self, topic: str, *, limit: int = 10_000) -> list[Message]:
        """Every message of ``topic`` from its beginning to its end as of now, at most
        ``limit`` (operators' tools: ``roster dlq``). Not for the hot path."""
        raise BusError(f"{type(self).__name__} cannot read a topic from its beginning")

    async def send(self, record: Record) -> None:
        """Send one record and wait until it is durably accepted."""
        await self.send_batch((record,))

    @abc.abstractmethod
    async def send_batch(self, records: Sequence[Record]) -> None:
        """Send records (order kept per key) and wait until all are durably accepted."""

    @abc.abstractmethod
    def subscribe(
        self,
        group: str,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        max_batch: int = 500,
        across_partitions: bool = False,
    ) -> Subscription:
        """A group member that hands batches to ``handler``; call ``start()`` on it.

        ``across_partitions``: a batch may hold several partitions' records (each partition's in
        order), so a handler with a cost per batch pays it once for them; a partition whose
        records are in a failed batch is then handed over alone until it succeeds, so a failing
        partition still holds up only itself. A bus may ignore it (one partition per batch)."""

    @abc.abstractmethod
    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader from the topic's current end; call ``start()`` on it."""
