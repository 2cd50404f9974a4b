"""users: an index of deleted accounts by userName

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:20:00

The userName index is unique among live accounts only (``deleted_at IS NULL``), so "is there a
deleted account with this name" — asked by a login where SCIM owns the lifecycle (a person SCIM
deleted never comes back through a login) — read every user of the table: a sequential scan,
per login, and then per batch once the batch's look-ups asked it. This partial index holds the
deleted accounts only (few), so the question is an index look-up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHERE = "deleted_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_users_deleted_name",
        "users",
        ["tenant_id", "user_name_key"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_users_deleted_name", table_name="users")
