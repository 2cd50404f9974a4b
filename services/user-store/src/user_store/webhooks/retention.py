"""How long webhook deliveries, their attempts and consumed events are kept: delivered ones are
pruned in bounded batches, anything still pending never is (the webhooks service decides when,
and calls this through the internal API).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.webhooks.tables import DELIVERED, attempts, deliveries, events


async def prune(
    session: AsyncSession, delivered_before: datetime, events_before: datetime, limit: int
) -> dict[str, int]:
    """Housekeeping: up to ``limit`` deliveries delivered before ``delivered_before`` go, with
    their attempts; then up to ``limit`` events that occurred before ``events_before`` and that
    no delivery refers to any more. A pending delivery (due, retrying, or waiting behind a paused
    endpoint) is never touched, nor its attempts, nor its event."""
    done = (
        (
            await session.execute(
                sa.select(deliveries.c.id)
                .where(
                    deliveries.c.status == DELIVERED, deliveries.c.delivered_at < delivered_before
                )
                .order_by(deliveries.c.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    pruned_attempts = 0
    if done:
        result = await session.execute(sa.delete(attempts).where(attempts.c.delivery_id.in_(done)))
        pruned_attempts = int(getattr(result, "rowcount", 0) or 0)
        await session.execute(sa.delete(deliveries).where(deliveries.c.id.in_(done)))
    referred = sa.select(deliveries.c.id).where(deliveries.c.event_seq == events.c.seq).exists()
    old = (
        (
            await session.execute(
                sa.select(events.c.seq)
                .where(events.c.occurred_at < events_before, ~referred)
                .order_by(events.c.seq)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if old:
        await session.execute(sa.delete(events).where(events.c.seq.in_(old)))
    return {"deliveries": len(done), "attempts": pruned_attempts, "events": len(old)}
