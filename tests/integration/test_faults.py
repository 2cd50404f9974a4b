"""Fault classification (user_store.faults) against real PostgreSQL and SQLite errors: by
SQLSTATE / result code, never by message text."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.db import create_engine
from user_store.faults import Fault, classify, sqlstate

SETUP = [
    "CREATE TABLE t (id VARCHAR(64) PRIMARY KEY, n INTEGER CHECK (n >= 0))",
    "INSERT INTO t (id, n) VALUES ('taken', 1)",
]


async def _error(engine: AsyncEngine, statement: str, **params: object) -> BaseException:
    with pytest.raises(Exception) as caught:
        async with engine.begin() as connection:
            await connection.execute(sa.text(statement), params)
    return caught.value


@pytest.fixture
async def postgres(fresh_database_url: str) -> AsyncEngine:
    engine = create_engine(fresh_database_url)
    async with engine.begin() as connection:
        for statement in SETUP:
            await connection.execute(sa.text(statement))
    return engine


async def test_postgres_errors_by_sqlstate(postgres: AsyncEngine) -> None:
    too_long = await _error(postgres, "INSERT INTO t (id) VALUES (:v)", v="x" * 100)
    assert sqlstate(too_long) == "22001" and classify(too_long) is Fault.RECORD
    nul = await _error(postgres, "INSERT INTO t (id) VALUES (:v)", v="a\x00b")
    assert sqlstate(nul) is not None and sqlstate(nul).startswith("22")  # type: ignore[union-attr]
    assert classify(nul) is Fault.RECORD
    check = await _error(postgres, "INSERT INTO t (id, n) VALUES ('x', -1)")
    assert sqlstate(check) == "23514" and classify(check) is Fault.RECORD
    unique = await _error(postgres, "INSERT INTO t (id) VALUES ('taken')")
    assert sqlstate(unique) == "23505" and classify(unique) is Fault.CONFLICT
    missing = await _error(postgres, "SELECT * FROM no_such_table")
    assert sqlstate(missing) == "42P01" and classify(missing) is Fault.INFRASTRUCTURE
    await postgres.dispose()


async def test_an_unreachable_database_is_infrastructure() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    error = await _error(engine, "SELECT 1")
    assert classify(error) is Fault.INFRASTRUCTURE
    await engine.dispose()


async def test_sqlite_errors_by_result_code(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    async with engine.begin() as connection:
        for statement in SETUP:
            await connection.execute(sa.text(statement))
    unique = await _error(engine, "INSERT INTO t (id) VALUES ('taken')")
    assert classify(unique) is Fault.CONFLICT
    check = await _error(engine, "INSERT INTO t (id, n) VALUES ('y', -1)")
    assert classify(check) is Fault.RECORD
    missing = await _error(engine, "SELECT * FROM no_such_table")
    assert classify(missing) is Fault.INFRASTRUCTURE
    await engine.dispose()


def test_our_own_bugs_are_the_records() -> None:
    assert classify(KeyError("x")) is Fault.RECORD
    assert classify(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates")) is Fault.RECORD
    assert classify(TimeoutError()) is Fault.INFRASTRUCTURE
    assert classify(ConnectionResetError()) is Fault.INFRASTRUCTURE
