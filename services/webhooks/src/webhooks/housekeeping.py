"""Keeping the delivery tables bounded: finished deliveries, their attempts and old events are
removed once past their retention. The user-store does the deleting (it alone writes the
database); this loop only asks it to, every ``interval`` seconds, in batches.

What is never removed: a pending delivery — due, retrying, or waiting behind a paused endpoint —
with its attempts and its event. The retentions are checked in :class:`WebhooksSettings` to
exceed the retry window, so an attempt history is kept at least as long as a delivery can
still be retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from webhooks.store import WebhookStore

log = logging.getLogger(__name__)
BATCH = 5000


class Housekeeper:
    """Asks the user-store to prune what is past ``delivery_retention`` / ``event_retention``."""

    def __init__(
        self,
        store: WebhookStore,
        *,
        delivery_retention: timedelta,
        event_retention: timedelta,
        interval: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._delivery_retention = delivery_retention
        self._event_retention = event_retention
        self._interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One pass, batch after batch until a batch comes back short; the totals removed."""
        now = now or self._clock()
        totals = {"deliveries": 0, "attempts": 0, "events": 0}
        while True:
            pruned = await self._store.prune(
                now - self._delivery_retention, now - self._event_retention, BATCH
            )
            for name in totals:
                totals[name] += pruned[name]
            if pruned["deliveries"] < BATCH and pruned["events"] < BATCH:
                return totals

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="webhook-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                totals = await self.run_once()
                if any(totals.values()):
                    log.info("webhook housekeeping removed %s", totals)
            except Exception:  # the user-store may be restarting: try again next interval
                log.exception("webhook housekeeping failed; will retry")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)
