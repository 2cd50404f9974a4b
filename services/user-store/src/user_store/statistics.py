"""The planner's statistics of the tables that grow fastest, kept up while they are young.

PostgreSQL plans a prepared statement (asyncpg's, the user-store's batch reads, the reader
functions of the scim-api's sessions) with the statistics it has, and keeps a generic plan until
the table is next analyzed. Autovacuum analyzes a table once 10 % of it changed, but visits each
database only once a minute (``autovacuum_naptime``): a table that grows from a handful of rows
to thousands inside that minute — a fresh install, a tenant's first import, ``bench/compare.py``
— is read for the rest of it with plans costed for a handful, and those walked whole indexes
for one row (auto_explain: the reader's GET walked the userName index filtering on the id, 0.94-
1.03 ms of database per GET at 11,000 users against 0.12; migration 0013 closes the ways a test
found, this the cause).
So the user-store analyzes such a table itself as soon as it has changed by as many rows as it
had at its last analysis (and by at least ``MIN_CHANGED``): at most a doubling between
analyses, a dozen ``ANALYZE`` runs on the way to a million rows, none once autovacuum's 10 %
comes sooner. PostgreSQL only (SQLite plans every statement afresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from user_store.background import finish

log = logging.getLogger(__name__)

TABLES = ("users", "user_emails", "identity_links", "groups", "memberships")
"""The tables whose rows SCIM and logins add by the thousand, and that point reads look up."""
MIN_CHANGED = 1000
"""Below this many changed rows a table is left to autovacuum."""
_DUE = """SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
 WHERE s.schemaname = current_schema() AND s.relname = ANY($1::text[])
   AND s.n_mod_since_analyze >= greatest($2::bigint, c.reltuples::bigint)"""


class Statistics:
    """Every ``interval`` seconds, ``ANALYZE`` the :data:`TABLES` that doubled since their last
    analysis (:mod:`user_store.statistics`)."""

    def __init__(self, engine: AsyncEngine, *, interval: float = 2.0) -> None:
        self._engine = engine
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self) -> None:
        if self._engine.dialect.name != "postgresql":
            return
        self._stop.clear()
        self._task = asyncio.create_task(self._loop(), name="user-store-statistics")

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await finish(self._task, 10.0)
            self._task = None

    async def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.analyze_due()
            except Exception:
                log.warning("statistics check failed; autovacuum still analyzes", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)

    async def analyze_due(self) -> list[str]:
        """Analyze the tables due now; returns their names."""
        async with self._engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            due = [row[0] for row in await driver.fetch(_DUE, list(TABLES), MIN_CHANGED)]
            for table in due:
                # A name from TABLES, never from outside. SKIP_LOCKED: one already running (an
                # autovacuum, another instance) is as good.
                await driver.execute(f"ANALYZE (SKIP_LOCKED) {table}")
                log.info("analyzed %s: it doubled since its last statistics", table)
        return due
