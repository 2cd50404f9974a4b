"""Deliveries: consumed events fanned out to the endpoints that want them, claimed in order per
user, and each attempt's outcome recorded (functions of a session; the caller begins the
transaction).

Ordering per user. A delivery is handed out (claimed) only when no older delivery of the same
endpoint and ordering key is still pending, so a ``user.updated`` never leaves before its
``user.created`` has been delivered, while other users' deliveries go out concurrently. A claim
is a lease: an instance that dies mid-delivery loses it when it expires, and the delivery is
handed out again (at-least-once; receivers de-duplicate by ``webhook-id``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.webhooks.endpoints import endpoint_row, expired, iso, set_status
from user_store.webhooks.tables import (
    ACTIVE,
    DELIVERED,
    GONE,
    PAUSED,
    PENDING,
    attempts,
    deliveries,
    endpoints,
    events,
)


async def record_events(session: AsyncSession, batch: list[dict[str, Any]]) -> tuple[int, int]:
    """Store consumed events (those already stored are skipped: the consumer redelivers) and a
    delivery for each endpoint of the tenant that wants the type. Returns (events, deliveries)."""
    if not batch:
        return 0, 0
    ids = [event["event_id"] for event in batch]
    known = set(
        (await session.execute(sa.select(events.c.event_id).where(events.c.event_id.in_(ids))))
        .scalars()
        .all()
    )
    fresh = [event for event in batch if event["event_id"] not in known]
    tenant_ids = {event["tenant_id"] for event in fresh}
    listeners = (
        (
            await session.execute(
                sa.select(endpoints.c.id, endpoints.c.tenant_id, endpoints.c.event_types).where(
                    endpoints.c.tenant_id.in_(tenant_ids)
                )
            )
        ).all()
        if fresh
        else []
    )
    now = utcnow()
    made = 0
    for event in fresh:  # in order: seq is the consumption order
        seq = (
            await session.execute(
                sa.insert(events)
                .values(
                    event_id=event["event_id"],
                    tenant_id=event["tenant_id"],
                    type=event["type"],
                    ordering_key=event["ordering_key"],
                    occurred_at=datetime.fromisoformat(event["occurred_at"]),
                    payload=event["payload"],
                )
                .returning(events.c.seq)
            )
        ).scalar_one()
        rows = [
            new_delivery(endpoint_id, seq, event["ordering_key"], "live", now)
            for endpoint_id, tenant_id, types in listeners
            if tenant_id == event["tenant_id"] and (not types or event["type"] in types)
        ]
        if rows:
            await session.execute(sa.insert(deliveries), rows)
            made += len(rows)
    return len(fresh), made


def new_delivery(
    endpoint_id: str, seq: int, key: str, origin: str, now: datetime
) -> dict[str, Any]:
    """The row of a delivery due now: ``origin`` is ``live``, ``test`` or ``replay:<id>``."""
    return {
        "endpoint_id": endpoint_id,
        "event_seq": seq,
        "ordering_key": key,
        "origin": origin,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def claim(
    session: AsyncSession, holder: str, limit: int, lease: timedelta
) -> list[dict[str, Any]]:
    """Due deliveries of active endpoints, each the oldest pending one of its endpoint and
    ordering key, leased to ``holder``."""
    now = utcnow()
    older = deliveries.alias("older")
    blocked = sa.exists().where(
        older.c.endpoint_id == deliveries.c.endpoint_id,
        older.c.ordering_key == deliveries.c.ordering_key,
        older.c.status == PENDING,
        older.c.id < deliveries.c.id,
    )
    candidates = (
        (
            await session.execute(
                sa.select(deliveries.c.id)
                .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
                .where(
                    deliveries.c.status == PENDING,
                    deliveries.c.next_attempt_at <= now,
                    sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                    endpoints.c.status == ACTIVE,
                    ~blocked,
                )
                .order_by(deliveries.c.id)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not candidates:
        return []
    # One conditional UPDATE: another instance may have claimed some since we looked.
    taken = list(
        (
            await session.execute(
                sa.update(deliveries)
                .where(
                    deliveries.c.id.in_(candidates),
                    sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                )
                .values(lease_holder=holder, lease_until=now + lease)
                .returning(deliveries.c.id)
            )
        )
        .scalars()
        .all()
    )
    if not taken:
        return []
    rows = (
        await session.execute(
            sa.select(
                deliveries.c.id,
                deliveries.c.endpoint_id,
                deliveries.c.attempts,
                deliveries.c.first_attempt_at,
                deliveries.c.origin,
                endpoints.c.tenant_id,
                endpoints.c.url,
                endpoints.c.secrets,
                events.c.event_id,
                events.c.type,
                events.c.payload,
            )
            .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
            .join(events, events.c.seq == deliveries.c.event_seq)
            .where(deliveries.c.id.in_(taken))
            .order_by(deliveries.c.id)
        )
    ).all()
    return [
        {
            "id": row.id,
            "endpoint_id": row.endpoint_id,
            "tenant_id": row.tenant_id,
            "url": row.url,
            "secrets": [s for s in row.secrets if not expired(s, now)],
            "event_id": row.event_id,
            "type": row.type,
            "payload": row.payload,
            "attempts": row.attempts,
            "first_attempt_at": iso(row.first_attempt_at),
            "origin": row.origin,
        }
        for row in rows
    ]


async def record_attempt(
    session: AsyncSession, delivery_id: int, holder: str, attempt: dict[str, Any]
) -> dict[str, Any]:
    """One attempt's outcome: the attempt row; the delivery delivered, or due again at
    ``next_attempt_at``; and with ``pause_reason`` the endpoint paused (the delivery stays).

    A delivery that is gone (its endpoint was deleted while the attempt was in flight) has
    nothing left to record: ``{"status": "gone"}``, and the other attempts of the batch are
    recorded as usual. The row is locked so that the deletion waits for this, or this for it."""
    row = (
        await session.execute(
            sa.select(deliveries).where(deliveries.c.id == delivery_id).with_for_update()
        )
    ).first()
    if row is None:
        return {"id": delivery_id, "status": GONE}
    now = utcnow()
    attempted_at = datetime.fromisoformat(attempt["attempted_at"])
    await session.execute(
        sa.insert(attempts).values(
            delivery_id=delivery_id,
            endpoint_id=row.endpoint_id,
            attempted_at=attempted_at,
            status_code=attempt.get("status_code"),
            error=attempt.get("error"),
            latency_ms=attempt["latency_ms"],
            response=attempt.get("response"),
        )
    )
    values: dict[str, Any] = {
        "attempts": row.attempts + 1,
        "first_attempt_at": row.first_attempt_at or attempted_at,
        "lease_holder": None,
        "lease_until": None,
    }
    if attempt["delivered"]:
        values.update(status=DELIVERED, delivered_at=now)
    else:
        values["next_attempt_at"] = datetime.fromisoformat(attempt["next_attempt_at"])
    await session.execute(
        sa.update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.lease_holder == holder)
        .values(**values)
    )
    if attempt.get("pause_reason"):
        await set_status(session, None, row.endpoint_id, PAUSED, attempt["pause_reason"])
    return {"id": delivery_id, "status": values.get("status", PENDING)}


async def list_attempts(
    session: AsyncSession, tenant_id: str, endpoint_id: str, limit: int
) -> list[dict[str, Any]]:
    """The endpoint's latest attempts, newest first, with the event each was for."""
    await endpoint_row(session, tenant_id, endpoint_id)
    rows = (
        await session.execute(
            sa.select(
                attempts,
                events.c.event_id,
                events.c.type,
                deliveries.c.origin,
                deliveries.c.status.label("delivery_status"),
                deliveries.c.next_attempt_at,
            )
            .join(deliveries, deliveries.c.id == attempts.c.delivery_id)
            .join(events, events.c.seq == deliveries.c.event_seq)
            .where(attempts.c.endpoint_id == endpoint_id)
            .order_by(attempts.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        {
            "id": row.id,
            "delivery_id": row.delivery_id,
            "event_id": row.event_id,
            "type": row.type,
            "origin": row.origin,
            "attempted_at": iso(row.attempted_at),
            "status_code": row.status_code,
            "error": row.error,
            "latency_ms": row.latency_ms,
            "response": row.response,
            # Where the delivery stands now: for a pending one, when it is tried next.
            "delivery_status": row.delivery_status,
            "next_attempt_at": (
                iso(row.next_attempt_at) if row.delivery_status == PENDING else None
            ),
        }
        for row in rows
    ]
