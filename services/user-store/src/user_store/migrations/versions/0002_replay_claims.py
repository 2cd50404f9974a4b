"""replay claims: single-use SAML assertion ids, AuthnRequest ids and OIDC states

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replay_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=512), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "claim", name="uq_replay_claims_claim"),
    )
    op.create_index("ix_replay_claims_expires_at", "replay_claims", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_replay_claims_expires_at", table_name="replay_claims")
    op.drop_table("replay_claims")
