"""Database engine and schema migrations (Alembic), for PostgreSQL and the embedded SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` URLs and use asyncpg for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def is_sqlite(engine: AsyncEngine) -> bool:
    """True for the embedded SQLite store."""
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine. SQLite gets WAL and a busy timeout: the CLI writes beside `roster dev`."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
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
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (we build snapshots from them)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


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
