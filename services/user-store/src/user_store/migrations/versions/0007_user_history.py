"""user history: each user's lifecycle events, written beside their outbox rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_history",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("changed", sa.JSON, nullable=False),
        sa.Column("reason", sa.String(300)),
        sa.Column("group_name", sa.String(256)),
    )
    op.create_index("ix_user_history_at", "user_history", ["at"])
    op.create_index("ix_user_history_user", "user_history", ["tenant_id", "user_id", "id"])


def downgrade() -> None:
    op.drop_table("user_history")
