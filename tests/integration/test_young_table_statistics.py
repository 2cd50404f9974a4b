"""The user-store analyzes a young table that doubled (``user_store.statistics``) on the real
PostgreSQL: plans cached while a table held a handful of rows are otherwise kept until
autovacuum's next visit, up to a minute, and walked whole indexes for one row."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.db import create_engine, migrate
from user_store.statistics import MIN_CHANGED, Statistics

pytestmark = pytest.mark.integration

_BULK = """INSERT INTO users (id, tenant_id, user_name, user_name_key, origin, scim_managed,
                              active, version, emails, extra, created_at, updated_at)
           SELECT :prefix || n, t.id, :prefix || n, :prefix || n, 'scim', true, true, 1, '[]',
                  '{}', now(), now()
             FROM generate_series(1, :count) n, tenants t"""


async def _state(engine: AsyncEngine) -> tuple[int, float, int]:
    """``users``' analyses so far, its rows as the planner knows them, its changes since."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.text(
                    "SELECT s.analyze_count, c.reltuples, s.n_mod_since_analyze"
                    " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                    " WHERE s.relname = 'users'"
                )
            )
        ).one()
    return int(row[0]), float(row[1]), int(row[2])


async def _settled(engine: AsyncEngine, inserted: int) -> None:
    """Wait until PostgreSQL's counters show the rows inserted (they are reported in batches)."""
    for _ in range(100):
        if (await _state(engine))[2] >= inserted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("PostgreSQL never counted the inserted rows")


async def test_a_table_is_analyzed_once_it_doubled_and_not_before(fresh_database_url: str) -> None:
    engine = create_engine(fresh_database_url)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            # Only this test analyzes it: autovacuum would too, on its own schedule.
            await connection.execute(sa.text("ALTER TABLE users SET (autovacuum_enabled = false)"))
            await connection.execute(
                sa.text(
                    "INSERT INTO tenants (id, slug, display_name, mode, settings, created_at,"
                    " updated_at) VALUES ('t1', 'acme', 'Acme', 'scim', '{}', now(), now())"
                )
            )
        statistics = Statistics(engine)
        analyses = (await _state(engine))[0]

        async with engine.begin() as connection:
            await connection.execute(sa.text(_BULK), {"prefix": "a", "count": MIN_CHANGED - 1})
        await _settled(engine, MIN_CHANGED - 1)
        assert await statistics.analyze_due() == []  # fewer changes than MIN_CHANGED

        async with engine.begin() as connection:
            await connection.execute(sa.text(_BULK), {"prefix": "b", "count": 2})
        await _settled(engine, MIN_CHANGED + 1)
        assert await statistics.analyze_due() == ["users"]
        count, rows, _ = await _state(engine)
        assert count == analyses + 1 and rows == MIN_CHANGED + 1  # the planner knows them now

        # 1,001 rows known: the next analysis waits for as many changes again.
        async with engine.begin() as connection:
            await connection.execute(sa.text(_BULK), {"prefix": "c", "count": 900})
        await _settled(engine, 900)
        assert await statistics.analyze_due() == []
        async with engine.begin() as connection:
            await connection.execute(sa.text(_BULK), {"prefix": "d", "count": 200})
        await _settled(engine, 1100)
        assert await statistics.analyze_due() == ["users"]
        assert (await _state(engine))[1] == 2101
    finally:
        await engine.dispose()
