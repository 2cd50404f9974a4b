"""Deliveries an administrator asks for, beside the live ones: a time range of the tenant's
events replayed to one endpoint, and a test event sent to one endpoint only. Both queue behind
what the endpoint has pending, under the same ordering and retries as live deliveries.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.webhooks.deliveries import new_delivery
from user_store.webhooks.endpoints import endpoint_row
from user_store.webhooks.tables import deliveries, events


async def replay(
    session: AsyncSession, tenant_id: str, endpoint_id: str, since: datetime, until: datetime
) -> int:
    """Deliver the tenant's events that occurred in [since, until) to the endpoint again, in
    their order, after whatever it has pending. Returns how many."""
    endpoint = await endpoint_row(session, tenant_id, endpoint_id)
    query = (
        sa.select(events.c.seq, events.c.ordering_key)
        .where(
            events.c.tenant_id == tenant_id,
            events.c.occurred_at >= since,
            events.c.occurred_at < until,
        )
        .order_by(events.c.seq)
    )
    if endpoint.event_types:
        query = query.where(events.c.type.in_(endpoint.event_types))
    found = (await session.execute(query)).all()
    if found:
        now = utcnow()
        origin = f"replay:{uuid.uuid4()}"
        await session.execute(
            sa.insert(deliveries),
            [new_delivery(endpoint_id, seq, key, origin, now) for seq, key in found],
        )
    return len(found)


async def test_event(
    session: AsyncSession, tenant_id: str, endpoint_id: str, event: dict[str, Any]
) -> dict[str, Any]:
    """A ``webhook.test`` event for one endpoint only."""
    await endpoint_row(session, tenant_id, endpoint_id)
    seq = (
        await session.execute(
            sa.insert(events)
            .values(
                event_id=event["event_id"],
                tenant_id=tenant_id,
                type=event["type"],
                ordering_key=f"test:{endpoint_id}",
                occurred_at=datetime.fromisoformat(event["occurred_at"]),
                payload=event["payload"],
            )
            .returning(events.c.seq)
        )
    ).scalar_one()
    await session.execute(
        sa.insert(deliveries).values(
            **new_delivery(endpoint_id, seq, f"test:{endpoint_id}", "test", utcnow())
        )
    )
    return {"event_id": event["event_id"]}
