"""The webhooks service's tables (it never writes the database: these are written through the
internal API in :mod:`.internal_api`). Created by migration ``0004_webhooks``.

- ``webhook_endpoints``: a tenant's registered receivers, their signing secrets (ciphertext under
  the webhooks service's key: the user-store cannot read them), and whether they are paused.
- ``webhook_events``: every lifecycle event the webhooks service consumed, once, with its
  ordering key (the user it is about). ``seq`` is the order it was consumed in, which for one
  tenant is ``roster.lifecycle``'s order; replays read from here.
- ``webhook_deliveries``: one event to one endpoint (a live delivery, a replay, a test); only the
  oldest pending delivery per endpoint and ordering key is ever handed out.
- ``webhook_attempts``: every attempt: status, latency, the start of the response, the error.
"""

from __future__ import annotations

import sqlalchemy as sa

from user_store.tables import metadata

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: a rowid alias
WHEN = sa.DateTime(timezone=True)

# webhook_endpoints.status
ACTIVE = "active"
PAUSED = "paused"  # its deliveries wait until it is resumed
# webhook_deliveries.status
PENDING = "pending"
DELIVERED = "delivered"
GONE = "gone"  # not stored: what recording an attempt answers for a deleted endpoint's delivery

endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False, index=True),
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

events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("ordering_key", sa.String(128), nullable=False),
    sa.Column("occurred_at", WHEN, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Index("ix_webhook_events_tenant_occurred", "tenant_id", "occurred_at"),
)

deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", SEQ, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.String(64), sa.ForeignKey("webhook_endpoints.id"), nullable=False),
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
    sa.UniqueConstraint("endpoint_id", "event_seq", "origin", name="uq_webhook_deliveries_once"),
    sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_key", "endpoint_id", "ordering_key", "status"),
)

attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", SEQ, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", SEQ, sa.ForeignKey("webhook_deliveries.id"), nullable=False),
    sa.Column("endpoint_id", sa.String(64), nullable=False),
    sa.Column("attempted_at", WHEN, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.String(1024)),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("response", sa.String(2048)),
    sa.Index("ix_webhook_attempts_endpoint", "endpoint_id", "id"),
)
