"""When to try again: exponential backoff with full-range jitter, ``Retry-After`` honoured, for
``retry_for`` seconds (3 days by default) after the first attempt; then the endpoint is paused
with the reason, and its deliveries wait — nothing is dropped."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

RETRY_AFTER_LIMIT = 86_400.0


@dataclass(frozen=True)
class RetryPolicy:
    """``base`` doubles per attempt up to ``cap``; each wait is jittered by ±20 %."""

    base: float = 5.0
    cap: float = 6 * 3600.0
    retry_for: float = 3 * 86_400.0

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        wait: float = min(self.cap, self.base * 2.0 ** max(0, attempts - 1))
        wait *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
        if retry_after is not None:
            # The receiver knows its own load: never sooner than it asked (up to a day: a
            # receiver cannot park its deliveries for longer than that by asking).
            wait = max(wait, min(retry_after, RETRY_AFTER_LIMIT))
        return wait

    def next_attempt(
        self,
        attempts: int,
        first_attempt_at: datetime,
        now: datetime,
        retry_after: float | None = None,
    ) -> datetime | None:
        """When to try again, or None: retried for long enough, pause the endpoint."""
        if (now - first_attempt_at).total_seconds() >= self.retry_for:
            return None
        return now + timedelta(seconds=self.delay(attempts, retry_after))
