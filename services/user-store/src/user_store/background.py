"""Ending the user-store's background loops (outbox relay, housekeeping, statistics)."""

from __future__ import annotations

import asyncio
import contextlib


async def finish(task: asyncio.Task[None], grace: float) -> None:
    """Let ``task`` end by itself for up to ``grace`` seconds, then cancel it; return once it has
    ended. A cycle in progress finishes first: cancelled inside its transaction, an SQLite
    connection could keep the database's write lock for whoever comes next."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), grace)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
