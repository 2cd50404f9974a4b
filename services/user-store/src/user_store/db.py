"""Database engine and schema migrations (Alembic), for PostgreSQL and the embedded SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).parent / "migrations"

DRIVER_CONNECTION_LOST = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
)
"""What asyncpg raises for a connection lost mid-statement, when a statement runs on the bare
driver connection (``hot_reads``, ``replay``): its callers raise SQLAlchemy's InterfaceError in
its place, so the answer is the general path's 503. InternalClientError is not an
InterfaceError, yet a backend terminated while a statement was being prepared surfaces as it."""


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use asyncpg for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def as_utc(moment: datetime) -> datetime:
    """The moment with UTC attached where the database (SQLite) dropped the zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_sqlite(engine: AsyncEngine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    """An async engine. SQLite gets WAL and a busy timeout: the CLI writes beside `roster dev`."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # SQLAlchemy's default pool (5 kept, 10 more per checkout): the hot reads take no
        # connection from it (user_store.loop_reads), and with 20+20 aiosqlite connections (one
        # thread each) roster dev's reads measured slower in the same run (GIL hand-overs).
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            # LIKE is case-insensitive on SQLite by default; case-exact SCIM attributes
            # (externalId) need co/sw/ew to respect case as on PostgreSQL.
            cursor.execute("PRAGMA case_sensitive_like=ON")
            cursor.close()
            # Transactions are begun by us (below), not lazily by the driver.
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # A deferred transaction that reads and then writes cannot wait for the write lock:
            # SQLite answers "database is locked" at once, busy timeout or not. Taking the lock
            # at BEGIN makes writers (the consumer, the CLI beside `roster dev`) queue instead.
            # Reads (read_session_factory) take no lock: WAL lets them run beside a writer.
            if not connection.get_execution_options().get(READS):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)

    @sa.event.listens_for(engine.sync_engine, "checkout")
    def _closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping, whose ping is a BEGIN and a ROLLBACK on every checkout
        # (12 % of the user-store's time under SCIM load, issue 10): asyncpg marks a connection
        # closed as soon as the server drops it (a restart), and a DisconnectionError here makes
        # the pool replace it before anyone uses it.
        if dbapi_connection.driver_connection.is_closed():
            raise sa.exc.DisconnectionError("connection closed by the server")

    return engine


READS = "roster_reads"
"""Execution option of read sessions on SQLite: no ``BEGIN IMMEDIATE`` (the driver autocommits)."""


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (we build snapshots from them)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` for the internal API's reads: autocommit, so a read is its statements and
    nothing else (no BEGIN and ROLLBACK round trips on PostgreSQL; on SQLite no write lock, so a
    read never waits for the consumer's transaction). Each statement sees every committed change
    (read-your-writes); a read of several statements is not one snapshot, which is why the hot
    reads are one statement each where it matters. Never write through it."""
    options = {READS: True} if is_sqlite(engine) else {"isolation_level": "AUTOCOMMIT"}
    return engine.execution_options(**options)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on :func:`read_engine` (the same rules). Never write through these sessions."""
    return async_sessionmaker(read_engine(engine), class_=AsyncSession, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (never ``create_all``)."""

    def _upgrade(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), revision)

    async with engine.begin() as connection:
        if not is_sqlite(engine):
            # Several instances may start at once: one migrates, the others wait for it.
            await connection.execute(sa.text("SELECT pg_advisory_xact_lock(7426017)"))
        await connection.run_sync(_upgrade)
