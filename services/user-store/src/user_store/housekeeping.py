"""Periodic clean-up: ``processed_events`` rows outlive any possible redelivery only so long."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from roster_shared.events.envelope import utcnow
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from user_store.background import finish
from user_store.tables import ProcessedEventRow
from user_store.user_history import prune_history

log = logging.getLogger(__name__)


async def prune_processed(sessions: async_sessionmaker[AsyncSession], older_than: datetime) -> int:
    """Delete the idempotence records of events processed before ``older_than``."""
    async with sessions() as session, session.begin():
        result = await session.execute(
            delete(ProcessedEventRow).where(col(ProcessedEventRow.processed_at) < older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


class Housekeeper:
    """Prunes idempotence records older than ``retention``, and users' lifecycle history older
    than ``history_retention`` (``ROSTER_HISTORY_DAYS``).

    The retention must exceed the ingest topic's (Kafka's default is 7 days): an event still in
    the log may be redelivered, and without its record it would be applied twice.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        retention: timedelta = timedelta(days=14),
        history_retention: timedelta = timedelta(days=90),
        interval: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._retention = retention
        self._history_retention = history_retention
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Prune now and then every ``interval`` seconds."""
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="user-store-housekeeping")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop pruning; a prune in progress finishes first (see ``OutboxRelay.stop``)."""
        if self._task is not None:
            self._stop.set()
            await finish(self._task, grace)
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pruned = await prune_processed(self._sessions, self._clock() - self._retention)
                if pruned:
                    log.info("pruned %d processed-event records", pruned)
                pruned = await prune_history(
                    self._sessions, self._clock() - self._history_retention
                )
                if pruned:
                    log.info("pruned %d user history rows", pruned)
            except Exception:
                log.exception("housekeeping failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
