"""console sign-outs: sessions ended before their expiry (console_sessions)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_signouts",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_console_signouts_expires_at", "console_signouts", ["expires_at"])


def downgrade() -> None:
    op.drop_table("console_signouts")
