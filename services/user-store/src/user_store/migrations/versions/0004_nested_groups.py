"""nested groups: a group as a member of a group

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_nesting",
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("member_group_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["member_group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("group_id", "member_group_id"),
    )
    op.create_index("ix_group_nesting_member", "group_nesting", ["member_group_id"])


def downgrade() -> None:
    op.drop_index("ix_group_nesting_member", table_name="group_nesting")
    op.drop_table("group_nesting")
