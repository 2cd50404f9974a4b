"""identity links: their account's foreign key may be checked at commit

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 23:00:00

``identity_links.user_id`` becomes ``DEFERRABLE INITIALLY IMMEDIATE``: every transaction checks it
per statement as before, unless it says ``SET CONSTRAINTS ... DEFERRED``. The ingest consumer's
fast pass does, for a batch of logins, so that the new accounts and their links are inserted in
one statement per table at the batch's flush, whatever order the ORM writes the two tables in
(it has no relationship to order them by); the check still runs, at the batch's commit, and a
batch that fails it is applied again event by event with the check immediate.

PostgreSQL only (SQLite cannot alter a constraint; ``roster dev`` keeps inserting per login).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CONSTRAINT = "identity_links_user_id_fkey"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE identity_links ALTER CONSTRAINT {CONSTRAINT} DEFERRABLE")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE identity_links ALTER CONSTRAINT {CONSTRAINT} NOT DEFERRABLE")
