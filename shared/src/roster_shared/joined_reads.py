"""Concurrent identical reads answered by one, never by one that began before a caller came.

Under SCIM load every write checks its bearer token with one read of ``scim_tokens`` (the
scim-api's reader role, ``scim_api.reader``): at concurrency 64 that was a quarter of the
scim-api's busy time, one round trip per request for the same answer (py-spy, issue 10); every
login step likewise asks the user-store for its tenant (``UserStoreClient.tenant``). Caching
either is not allowed — a revoked token is refused on its very next request, a changed SSO
setting applies to the next login — so callers are joined instead:

- a caller that finds no read of its key waiting to start queues one; callers that come while it
  is still queued join it;
- a queued read starts once the read of the same key before it has finished (one at a time per
  key), and from that moment it takes no one else: a later caller queues the next read.

So every answer comes from a read that the database began after its caller arrived, exactly
what an unjoined read would have given it (a revocation committed before the request is seen),
and a burst of N identical reads costs about two round trips instead of N.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class JoinedReads(Generic[T]):
    """Reads of one kind, joined per key as the module says. Keys must name everything the
    answer depends on (a token's id *and* its secret's digest): joined callers share it."""

    def __init__(self) -> None:
        self._queued: dict[Hashable, asyncio.Task[T]] = {}
        self._running: dict[Hashable, asyncio.Task[T]] = {}
        self.reads = 0  # reads begun, for tests and benches: callers / reads is the saving

    async def read(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """``fetch()``'s answer from a read begun after this call; its exception likewise."""
        task = self._queued.get(key)
        if task is None:
            # In a context of its own, not this caller's: under this caller's request deadline
            # (roster_shared.deadline) a caller whose time is nearly up would fail every caller
            # that joined it. The read keeps the client's own timeout; each caller still gives
            # up at its own deadline (its request's timeout cancels its wait, not the read).
            task = asyncio.create_task(
                self._after(key, self._running.get(key), fetch), context=contextvars.Context()
            )
            task.add_done_callback(_retrieve)
            self._queued[key] = task
        # Shielded: a caller that gives up (its deadline, a client gone) does not cancel the
        # read the others joined.
        return await asyncio.shield(task)

    async def _after(
        self, key: Hashable, previous: asyncio.Task[T] | None, fetch: Callable[[], Awaitable[T]]
    ) -> T:
        this = asyncio.current_task()
        if previous is not None:
            # Its outcome is its callers'; this read waits only to keep one in flight per key.
            await asyncio.wait([previous])
        if self._queued.get(key) is this:
            del self._queued[key]  # from here, a caller that comes queues the next read
        self._running[key] = this  # type: ignore[assignment]
        self.reads += 1
        try:
            return await fetch()
        finally:
            if self._running.get(key) is this:
                del self._running[key]


def _retrieve(task: asyncio.Task[object]) -> None:
    # Every caller may have given up: the outcome is then nobody's, and not worth a warning.
    if not task.cancelled():
        task.exception()
