"""``roster dev``'s hottest reads on the event loop's own thread, without a thread hop.

aiosqlite runs each connection on a thread of its own: every call is a queue put, a thread
wake-up, the GIL handed over and back, and a ``call_soon_threadsafe`` — for a statement SQLite
itself answers in tens of microseconds. Under GET load at concurrency 16 those hops (and the
session's checkout and rollback) were a third of ``roster dev``'s time. The one-statement reads
of :mod:`user_store.hot_reads` instead run here, on one plain ``sqlite3`` connection of the
loop's thread, in autocommit: each statement is its own read transaction, which in WAL mode
never waits for a writer and sees every committed write (read-your-writes). The connection
is ``query_only``: nothing can write through it.

A read that finds the database busy (a WAL recovery, a checkpoint resetting the log) does not
wait on the loop: it answers None and the caller takes aiosqlite, whose thread may wait.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from user_store.db import is_sqlite


class LoopReads:
    """One ``query_only`` SQLite connection used only from the event loop's thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    @classmethod
    def of(cls, engine: AsyncEngine) -> LoopReads | None:
        """For a SQLite file database; None otherwise (PostgreSQL, or SQLite in memory)."""
        database = engine.url.database
        if not is_sqlite(engine) or not database or database == ":memory:":
            return None
        return cls(database)

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA query_only = ON")
            connection.execute("PRAGMA busy_timeout = 0")  # never sleep on the loop
            self._connection = connection
        return self._connection

    def fetch(self, statement: str, args: list[Any]) -> list[Any] | None:
        """The statement's rows; None when SQLite is busy (the caller reads another way)."""
        try:
            return self._connect().execute(statement, args).fetchall()
        except sqlite3.OperationalError as exc:
            # The primary code: extended ones (SQLITE_BUSY_RECOVERY, ...) carry it in the low byte.
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
                sqlite3.SQLITE_BUSY,
                sqlite3.SQLITE_LOCKED,
            ):
                return None
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class OnDemand:
    """A connection of ``engine`` opened only when a statement needs one, closed at the end of
    the ``async with`` block.

    With the loop's connection a hot read needs no pooled connection at all, unless SQLite is
    busy there; yet checking one out of aiosqlite and returning it (a rollback on its thread)
    was a fifth of a ``roster dev`` GET (py-spy, issue 10). On PostgreSQL, where there is no
    loop connection, the first statement opens it, as ``engine.connect()`` did.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def connection(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._engine.connect()
        return self._connection

    async def __aenter__(self) -> OnDemand:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()
