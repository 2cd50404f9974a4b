"""The message bus interface: Kafka in production, an in-process log for the embedded mode.

Both implementations keep the same contract, and one test suite checks both:

* ``send`` / ``send_batch`` return only once every record is durably accepted (Kafka:
  ``acks=all`` on an idempotent producer), and records with the same key keep their order.
* ``subscribe`` joins a consumer group. The handler gets batches of messages from one partition,
  in offset order; the offset after the batch is committed only after the handler returns, so a
  crash redelivers the batch (at-least-once). A handler that raises is retried with backoff from
  the first message of the failed batch; poison messages are the handler's to dead-letter.
* ``listen`` reads a topic from its end without a group, for every instance to see every message
  (request/reply). ``ready`` is set once reading has started, so nothing sent after it is missed.
"""

from __future__ import annotations

import abc
import asyncio
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
    """A message as delivered to a consumer."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0

    def header(self, name: str) -> bytes | None:
        """The first header of that name, if any."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


BatchHandler = Callable[[Sequence[Message]], Awaitable[None]]


class BusError(Exception):
    """The bus could not do what was asked (broker unreachable, send timed out)."""


class Subscription(abc.ABC):
    """A running consumer; stop it to leave the group cleanly."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()

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
    ) -> Subscription:
        """A group member that hands batches to ``handler``; call ``start()`` on it."""

    @abc.abstractmethod
    def listen(self, topic: str, handler: BatchHandler) -> Subscription:
        """A groupless reader from the topic's current end; call ``start()`` on it."""
