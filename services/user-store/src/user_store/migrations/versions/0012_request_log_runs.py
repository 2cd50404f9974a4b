"""request_log: a row stands for a run of identical successes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 04:40:00

The recorders (``roster_shared.request_log``) send the successes of one second that differ in
nothing but their time as one record with a count, the first time (``since``) and the last
(``at``); failures stay one row each. Rows written before this migration stand for one request.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_log") as table:
        table.add_column(sa.Column("count", sa.Integer, nullable=False, server_default="1"))
        table.add_column(sa.Column("since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_log") as table:
        table.drop_column("since")
        table.drop_column("count")
