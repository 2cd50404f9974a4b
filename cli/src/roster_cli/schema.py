"""Whether a database's schema is the one this ``roster`` needs, read without changing it.

Administration commands never migrate: ``roster migrate`` is the one explicit way (and
``roster dev`` for its own data directory). A schema that is behind, or a database with no schema
yet, is a :class:`SchemaBehind` that names the command to run.
"""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.db import MIGRATIONS


class SchemaBehind(Exception):
    """The database is not at the newest schema; ``detail`` says what to run."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def newest() -> set[str]:
    """The head revisions of the user-store's migrations."""
    return set(_script().get_heads())


async def current(engine: AsyncEngine) -> set[str]:
    """The revisions the database is stamped with (empty: no schema yet)."""

    def read(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        return await connection.run_sync(read)


async def require_newest(engine: AsyncEngine, describe: str, migrate_hint: str) -> None:
    """Raise :class:`SchemaBehind` unless the database is at the newest schema.

    ``describe`` names the database for people; ``migrate_hint`` is the ``roster migrate ...``
    command line that brings it up to date.
    """
    found, wanted = await current(engine), newest()
    if found == wanted:
        return
    if not found:
        raise SchemaBehind(
            f"the database {describe} has no Roster schema yet: run `{migrate_hint}` first"
        )
    revisions = ", ".join(sorted(found))
    if found <= {rev.revision for rev in _script().walk_revisions()}:
        raise SchemaBehind(
            f"the database {describe} is at schema {revisions}, behind "
            f"{', '.join(sorted(wanted))}: run `{migrate_hint}` first"
        )
    raise SchemaBehind(
        f"the database {describe} is at schema {revisions}, which this roster does not know "
        "(newer?): use the roster that migrated it"
    )
