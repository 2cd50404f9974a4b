"""The user-store's moving parts, started and stopped together: database, outbox relay,
housekeeping, the planner's statistics of young tables, and the ``roster.ingest`` consumer. HTTP
is layered on top in ``app.py``; the embedded launcher and the tests use this directly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from roster_shared.bus.base import Bus, PartitionProgress, Subscription
from roster_shared.events.envelope import utcnow
from roster_shared.topics import Topics
from sqlalchemy.ext.asyncio import AsyncEngine

from user_store.consumer import IngestProcessor
from user_store.db import migrate, session_factory
from user_store.housekeeping import Housekeeper
from user_store.outbox import OutboxRelay
from user_store.reply_path import ReplySender
from user_store.statistics import Statistics


class UserStoreService:
    """Consumes ingestion events and publishes their outcomes."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        *,
        group: str = "roster-user-store",
        max_batch: int = 500,
        migrate_on_start: bool = True,
        clock: Callable[[], datetime] = utcnow,
        relay_interval: float = 1.0,
        topics: Topics = Topics(),
        on_death: Callable[[str], None] | None = None,
        history_retention: timedelta = timedelta(days=90),
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.sessions = session_factory(engine)
        self.relay = OutboxRelay(self.sessions, bus, interval=relay_interval)
        self.replies = ReplySender(bus)
        self.processor = IngestProcessor(
            self.sessions, self.relay, clock=clock, topics=topics, replies=self.replies
        )
        self.topics = topics
        self.housekeeper = Housekeeper(
            self.sessions, clock=clock, history_retention=history_retention
        )
        self.statistics = Statistics(engine)
        self._group = group
        self._max_batch = max_batch
        self._migrate = migrate_on_start
        self._subscription: Subscription | None = None
        self._on_death = on_death

    async def start(self) -> None:
        """Migrate, publish leftovers, then join the consumer group."""
        if self._migrate:
            await migrate(self.engine)
        await self.relay.start()
        await self.housekeeper.start()
        await self.statistics.start()
        # The group carries the topic prefix as the topics do: installations (and test stacks)
        # sharing a cluster must not join one group and rebalance each other's consumers.
        self._subscription = self.bus.subscribe(
            self.topics.prefix + self._group,
            [self.topics.ingest],
            self.processor,
            max_batch=self._max_batch,
            # One transaction for every tenant's records of a fetch, not one per partition:
            # the processor takes a batch of several tenants (each in its partition's order).
            across_partitions=True,
        )
        self._subscription.on_death = self._on_death
        await self._subscription.start()

    async def stop(self) -> None:
        """Leave the group after the batch in hand, then stop relaying."""
        if self._subscription is not None:
            await self._subscription.stop()
            self._subscription = None
        await self.statistics.stop()
        await self.housekeeper.stop()
        await self.relay.stop()

    @property
    def running(self) -> bool:
        """True while consuming: started, not stopped, and the consumer loop alive."""
        return self._subscription is not None and self._subscription.alive

    def progress(self) -> list[PartitionProgress]:
        """How far the consumer has come in each partition of ``roster.ingest`` it owns."""
        return self._subscription.progress() if self._subscription is not None else []
