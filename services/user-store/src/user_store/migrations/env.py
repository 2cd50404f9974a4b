"""Alembic environment: always run with a connection handed over by ``user_store.db.migrate``."""

from __future__ import annotations

from alembic import context
from user_store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise RuntimeError("run migrations through user_store.db.migrate or `roster migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
