"""webhooks: endpoints, consumed events, deliveries, attempts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(512)),
        sa.Column("event_types", sa.JSON),
        sa.Column("secrets", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paused_reason", sa.String(1024)),
        sa.Column("paused_at", WHEN),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_tenant_id", "webhook_endpoints", ["tenant_id"])
    op.create_table(
        "webhook_events",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("ordering_key", sa.String(128), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_webhook_events_tenant_occurred", "webhook_events", ["tenant_id", "occurred_at"]
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column(
            "endpoint_id", sa.String(64), sa.ForeignKey("webhook_endpoints.id"), nullable=False
        ),
        sa.Column("event_seq", SEQ, sa.ForeignKey("webhook_events.seq"), nullable=False),
        sa.Column("ordering_key", sa.String(128), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("first_attempt_at", WHEN),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_holder", sa.String(128)),
        sa.Column("lease_until", WHEN),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN),
        sa.UniqueConstraint(
            "endpoint_id", "event_seq", "origin", name="uq_webhook_deliveries_once"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_key",
        "webhook_deliveries",
        ["endpoint_id", "ordering_key", "status"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", SEQ, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", SEQ, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
        sa.Column("endpoint_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", WHEN, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.String(1024)),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("response", sa.String(2048)),
    )
    op.create_index("ix_webhook_attempts_endpoint", "webhook_attempts", ["endpoint_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhook_endpoints")
