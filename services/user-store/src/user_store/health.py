"""What the user-store's ``/readyz`` and consumer metrics say, and why.

Ready means the user-store can do its job now:

* nothing fatal happened (the consumer loop did not end on its own: the process is on its way
  out, see ``roster_shared.service.run``);
* the database answers ``SELECT 1`` within 2 s;
* when it consumes: the consumer is running, and no partition of ``roster.ingest`` it owns has
  held waiting records for longer than ``stall_after`` seconds without moving (a poisoned or
  stuck partition: every tenant hashed there is not being served);
* the broker answers a metadata request (Kafka; the in-process bus always does).

Each reason for not being ready is logged once when readiness turns, so an operator reading the
logs sees why the orchestrator took the instance out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from roster_shared.service.keys import Fatal
from sqlalchemy.ext.asyncio import AsyncEngine

from user_store.service import UserStoreService

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0


class Readiness:
    """The user-store's readiness check (``READY``)."""

    def __init__(
        self,
        service: UserStoreService,
        engine: AsyncEngine,
        fatal: Fatal,
        *,
        consume: bool,
        stall_after: float,
    ) -> None:
        self._service = service
        self._engine = engine
        self._fatal = fatal
        self._consume = consume
        self._stall_after = stall_after
        self._last: list[str] = []

    async def __call__(self) -> bool:
        reasons = await self.reasons()
        if reasons != self._last:
            if reasons:
                log.warning("not ready: %s", "; ".join(reasons), extra={"reasons": reasons})
            else:
                log.info("ready")
            self._last = reasons
        return not reasons

    async def reasons(self) -> list[str]:
        """Why the user-store is not ready; empty when it is."""
        if self._fatal.reason is not None:
            return [f"fatal: {self._fatal.reason}"]
        reasons = []
        if not await self._database():
            reasons.append("the database does not answer")
        if self._consume:
            if not self._service.running:
                reasons.append("the roster.ingest consumer is not running")
            for progress in self._service.progress():
                if progress.stalled_for > self._stall_after:
                    reasons.append(
                        f"{progress.topic}[{progress.partition}] has not moved for "
                        f"{progress.stalled_for:.0f}s with {progress.lag} record(s) waiting"
                    )
        if not await self._service.bus.reachable():
            reasons.append("the broker does not answer")
        return reasons

    async def _database(self) -> bool:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT), self._engine.connect() as connection:
                await connection.execute(sa.text("SELECT 1"))
        except Exception:  # unreachable, refused, timed out: all mean "not now"
            return False
        return True


class ConsumerCollector:
    """Per-partition lag and stall of the ``roster.ingest`` consumer, and dead letters by kind."""

    def __init__(self, service: UserStoreService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "roster_user_store_consumer_lag",
            "Records waiting in each owned partition of roster.ingest",
            labels=["topic", "partition"],
        )
        stalled = GaugeMetricFamily(
            "roster_user_store_consumer_stalled_seconds",
            "Seconds each owned partition has held waiting records without moving",
            labels=["topic", "partition"],
        )
        for progress in self._service.progress():
            labels = [progress.topic, str(progress.partition)]
            lag.add_metric(labels, progress.lag)
            stalled.add_metric(labels, progress.stalled_for)
        dead = CounterMetricFamily(
            "roster_user_store_dlq_records",
            "Records sent to roster.ingest.dlq, by kind",
            labels=["kind"],
        )
        for kind, count in sorted(self._service.processor.dead_letter_kinds.items()):
            dead.add_metric([kind], count)
        alive = GaugeMetricFamily(
            "roster_user_store_consumer_running", "1 while the roster.ingest consumer runs"
        )
        alive.add_metric([], 1 if self._service.running else 0)
        yield from (lag, stalled, dead, alive)
