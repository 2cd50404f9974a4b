"""The transactional outbox: messages are stored with the change they report and published after
the commit, in id order, then deleted. A crash between publishing and deleting publishes again
with the same event ids, which consumers de-duplicate; nothing is ever lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa
from roster_shared.bus.base import Bus, Record
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from user_store.background import finish
from user_store.tables import OutboxRow

log = logging.getLogger(__name__)

RELAY_LOCK = 7426018
LOCK_RETRIES = 50
LOCK_RETRY_DELAY = 0.02

# The relay's cycle on PostgreSQL, as asyncpg's prepared statements: it runs after every batch,
# and through the ORM session its SQLAlchemy overhead was a tenth of the user-store's CPU at one
# create in flight (issue 10). What it does is unchanged: lock, read in id order, publish, delete.
_TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
_PENDING = "SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1"
_PUBLISHED = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
# The outbox is a queue: every row is inserted, read once and deleted, ~2,000 a second under
# SCIM creates at concurrency 64. Autovacuum visits a database once a minute
# (autovacuum_naptime), so the heap filled with up to a minute of dead rows between its visits,
# and the DELETE — on a generic plan made while the table was empty, a sequential scan
# (auto_explain) — read all of them every cycle: the database spent 0.26-0.34 ms per create
# (bench/compare.py, creates at 64, before this). So the relay vacuums the table itself after
# every VACUUM_EVERY rows it deleted (~2 s of creates at 1,000 /s): 0.18-0.19 ms, 1,171-1,307
# creates/s at 64 against 1,073-1,231 in the same run. SKIP_LOCKED: a relay of another
# instance already vacuuming is enough.
_VACUUM = "VACUUM (SKIP_LOCKED) outbox"
VACUUM_EVERY = 4000


def outbox_values(record: Record) -> dict[str, Any]:
    """Column values of an outbox row for a record (text values: all we publish is JSON)."""
    return {
        "topic": record.topic,
        "key": record.key,
        "value": record.value.decode() if record.value is not None else None,
        "headers": [[name, value.decode()] for name, value in record.headers],
        "created_at": utcnow(),
    }


def _record(row: Any) -> Record:
    """The record of an outbox row read as ``(id, topic, key, value, headers)``: a SQLAlchemy
    row or an asyncpg one (whose ``headers`` arrive decoded too: SQLAlchemy's dialect gives its
    connections a JSON codec)."""
    _, topic, key, value, headers = row
    return Record(
        topic=topic,
        key=key,
        value=value.encode() if value is not None else None,
        headers=tuple((name, text.encode()) for name, text in headers),
    )


class OutboxRelay:
    """Publishes the outbox; one relay at a time per database (an advisory lock on PostgreSQL)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        batch: int = 1000,
        interval: float = 1.0,
        vacuum_every: int = VACUUM_EVERY,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._batch = batch
        self._interval = interval
        self._vacuum_every = vacuum_every
        self._deleted = 0  # rows deleted since the relay last vacuumed the outbox
        self.vacuums = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    async def start(self) -> None:
        """Publish what a previous run left, then keep polling for stragglers."""
        await self.publish_pending()
        self._task = asyncio.create_task(self._loop(), name="outbox-relay")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop polling (what is left is published by the next start).

        A cycle in progress finishes first: cancelled inside its transaction, an SQLite
        connection could keep the database's write lock for whoever comes next. Only a cycle
        that outlasts ``grace`` is cancelled."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await finish(self._task, grace)
            self._task = None
            self._stopping = False

    def kick(self) -> None:
        """Publish soon, in the background (the consumer goes on with its next batch)."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self.publish_pending()
            except Exception:
                log.exception("outbox relay failed; will retry")

    async def publish_pending(self) -> int:
        """Publish every pending row in id order; returns how many were published."""
        total = 0
        async with self._lock:
            attempts = 0
            while True:
                count = await self._publish_batch()
                if count is None:
                    # Another instance holds the relay lock. Its loop may already be past our
                    # rows, so try again shortly rather than leave a waiting reply for a second.
                    attempts += 1
                    if attempts > LOCK_RETRIES:
                        break
                    await asyncio.sleep(LOCK_RETRY_DELAY)
                    continue
                total += count
                if count < self._batch:
                    break
            self._deleted += total
            if self._deleted >= self._vacuum_every:
                self._deleted = 0
                await self._vacuum()
        self.published += total
        return total

    async def _vacuum(self) -> None:
        """``VACUUM`` the outbox (PostgreSQL; outside any transaction, as VACUUM must be). A
        failure is logged, never the relay's: autovacuum still comes."""
        engine: AsyncEngine = self._sessions.kw["bind"]
        if engine.dialect.name != "postgresql":
            return
        try:
            async with engine.connect() as connection:
                driver: Any = (await connection.get_raw_connection()).driver_connection
                await driver.execute(_VACUUM)
        except Exception:
            log.warning("VACUUM of the outbox failed; autovacuum will do it", exc_info=True)
            return
        self.vacuums += 1

    async def _publish_batch(self) -> int | None:
        """Publish one batch; None when another instance holds the relay lock."""
        engine: AsyncEngine = self._sessions.kw["bind"]
        if engine.dialect.name == "postgresql":
            return await self._publish_batch_postgresql(engine)
        async with self._sessions() as session, session.begin():
            # Core rows, not ORM objects: the relay moves many small rows and reads each once.
            table = OutboxRow.__table__  # type: ignore[attr-defined]
            rows = (
                await session.execute(
                    sa.select(
                        table.c.id, table.c.topic, table.c.key, table.c.value, table.c.headers
                    )
                    .order_by(table.c.id)
                    .limit(self._batch)
                )
            ).all()
            if not rows:
                return 0
            await self._bus.send_batch([_record(row) for row in rows])
            await session.execute(sa.delete(table).where(table.c.id.in_([row.id for row in rows])))
            return len(rows)

    async def _publish_batch_postgresql(self, engine: AsyncEngine) -> int | None:
        """:meth:`_publish_batch` on a bare connection in one asyncpg transaction (the advisory
        lock is the transaction's: two relays never publish the same rows concurrently)."""
        async with engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            async with driver.transaction():
                if not await driver.fetchval(_TRY_LOCK, RELAY_LOCK):
                    return None
                rows = await driver.fetch(_PENDING, self._batch)
                if not rows:
                    return 0
                await self._bus.send_batch([_record(row) for row in rows])
                await driver.execute(_PUBLISHED, [row["id"] for row in rows])
                return len(rows)
