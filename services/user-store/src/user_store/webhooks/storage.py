"""What the webhooks service stores, as functions of a session (one transaction each, begun by
the caller): endpoints and their secrets, consumed events and the deliveries they fan out to,
claiming due deliveries in order per user, and recording attempts.

Ordering per user. A delivery is handed out (claimed) only when no older delivery of the same
endpoint and ordering key is still pending, so a ``user.updated`` never leaves before its
``user.created`` has been delivered, while other users' deliveries go out concurrently. A claim
is a lease: an instance that dies mid-delivery loses it when it expires, and the delivery is
handed out again (at-least-once; receivers de-duplicate by ``webhook-id``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.errors import NotFound
from user_store.webhooks.tables import attempts, deliveries, endpoints, events

PENDING = "pending"
DELIVERED = "delivered"
ACTIVE = "active"
PAUSED = "paused"


def as_utc(moment: datetime | None) -> datetime | None:
    """The moment with UTC attached where the database (SQLite) dropped the zone."""
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    value = as_utc(moment)
    return value.isoformat() if value is not None else None


def endpoint_json(row: Any, pending: int | None = None) -> dict[str, Any]:
    """An endpoint as the internal API answers it (secret ciphertexts included: only the
    webhooks service, which holds the key, can read them)."""
    body = {
        "id": row.id,
        "tenant_id": row.tenant_id,
        "url": row.url,
        "description": row.description,
        "event_types": row.event_types,
        "secrets": row.secrets,
        "status": row.status,
        "paused_reason": row.paused_reason,
        "paused_at": _iso(row.paused_at),
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }
    if pending is not None:
        body["pending"] = pending
    return body


async def create_endpoint(
    session: AsyncSession,
    tenant_id: str,
    url: str,
    secret: dict[str, Any],
    *,
    description: str | None,
    event_types: list[str] | None,
) -> dict[str, Any]:
    """A new active endpoint with one secret."""
    now = utcnow()
    endpoint_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": endpoint_id,
        "tenant_id": tenant_id,
        "url": url,
        "description": description,
        "event_types": event_types,
        "secrets": [secret],
        "status": ACTIVE,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(sa.insert(endpoints).values(**values))
    return await get_endpoint(session, tenant_id, endpoint_id)


async def _row(session: AsyncSession, tenant_id: str, endpoint_id: str) -> Any:
    row = (
        await session.execute(
            sa.select(endpoints).where(
                endpoints.c.id == endpoint_id, endpoints.c.tenant_id == tenant_id
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id} for this tenant")
    return row


async def _pending(session: AsyncSession, endpoint_ids: list[str]) -> dict[str, int]:
    if not endpoint_ids:
        return {}
    rows = await session.execute(
        sa.select(deliveries.c.endpoint_id, sa.func.count())
        .where(deliveries.c.endpoint_id.in_(endpoint_ids), deliveries.c.status == PENDING)
        .group_by(deliveries.c.endpoint_id)
    )
    return {endpoint_id: int(count) for endpoint_id, count in rows.all()}


async def get_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> dict[str, Any]:
    """One endpoint of the tenant, with its count of pending deliveries."""
    row = await _row(session, tenant_id, endpoint_id)
    return endpoint_json(row, (await _pending(session, [row.id])).get(row.id, 0))


async def list_endpoints(session: AsyncSession, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's endpoints, oldest first."""
    rows = (
        await session.execute(
            sa.select(endpoints)
            .where(endpoints.c.tenant_id == tenant_id)
            .order_by(endpoints.c.created_at)
        )
    ).all()
    pending = await _pending(session, [row.id for row in rows])
    return [endpoint_json(row, pending.get(row.id, 0)) for row in rows]


async def add_secret(
    session: AsyncSession,
    tenant_id: str,
    endpoint_id: str,
    secret: dict[str, Any],
    previous_expire_at: datetime,
) -> dict[str, Any]:
    """Rotation: the new secret signs from now on; the newest previous one keeps signing too
    until ``previous_expire_at`` (two signatures in ``webhook-signature`` meanwhile); older
    ones are dropped."""
    row = await _row(session, tenant_id, endpoint_id)
    now = utcnow()
    live = [s for s in row.secrets if not _expired(s, now)]
    kept = [{**live[-1], "expires_at": previous_expire_at.isoformat()}] if live else []
    await session.execute(
        sa.update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(secrets=[*kept, secret], updated_at=now)
    )
    return await get_endpoint(session, tenant_id, endpoint_id)


def _expired(secret: dict[str, Any], now: datetime) -> bool:
    expires = secret.get("expires_at")
    return expires is not None and datetime.fromisoformat(expires) <= now


async def set_status(
    session: AsyncSession, tenant_id: str | None, endpoint_id: str, status: str, reason: str | None
) -> dict[str, Any]:
    """Pause (with a reason) or resume an endpoint. Resuming makes its deliveries due now."""
    query = sa.select(endpoints.c.tenant_id).where(endpoints.c.id == endpoint_id)
    if tenant_id is not None:
        query = query.where(endpoints.c.tenant_id == tenant_id)
    owner = (await session.execute(query)).scalar_one_or_none()
    if owner is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    now = utcnow()
    paused = status == PAUSED
    await session.execute(
        sa.update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(
            status=status,
            paused_reason=reason if paused else None,
            paused_at=now if paused else None,
            updated_at=now,
        )
    )
    if not paused:
        # A fresh start: the retry window counts again from the next attempt.
        await session.execute(
            sa.update(deliveries)
            .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == PENDING)
            .values(next_attempt_at=now, first_attempt_at=None)
        )
    return await get_endpoint(session, owner, endpoint_id)


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
            _delivery(endpoint_id, seq, event["ordering_key"], "live", now)
            for endpoint_id, tenant_id, types in listeners
            if tenant_id == event["tenant_id"] and (not types or event["type"] in types)
        ]
        if rows:
            await session.execute(sa.insert(deliveries), rows)
            made += len(rows)
    return len(fresh), made


def _delivery(endpoint_id: str, seq: int, key: str, origin: str, now: datetime) -> dict[str, Any]:
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
            "secrets": [s for s in row.secrets if not _expired(s, now)],
            "event_id": row.event_id,
            "type": row.type,
            "payload": row.payload,
            "attempts": row.attempts,
            "first_attempt_at": _iso(row.first_attempt_at),
            "origin": row.origin,
        }
        for row in rows
    ]


async def record_attempt(
    session: AsyncSession, delivery_id: int, holder: str, attempt: dict[str, Any]
) -> dict[str, Any]:
    """One attempt's outcome: the attempt row; the delivery delivered, or due again at
    ``next_attempt_at``; and with ``pause_reason`` the endpoint paused (the delivery stays)."""
    row = (
        await session.execute(sa.select(deliveries).where(deliveries.c.id == delivery_id))
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
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


async def replay(
    session: AsyncSession, tenant_id: str, endpoint_id: str, since: datetime, until: datetime
) -> int:
    """Deliver the tenant's events that occurred in [since, until) to the endpoint again, in
    their order, after whatever it has pending. Returns how many."""
    endpoint = await _row(session, tenant_id, endpoint_id)
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
            [_delivery(endpoint_id, seq, key, origin, now) for seq, key in found],
        )
    return len(found)


async def test_event(
    session: AsyncSession, tenant_id: str, endpoint_id: str, event: dict[str, Any]
) -> dict[str, Any]:
    """A ``webhook.test`` event for one endpoint only."""
    await _row(session, tenant_id, endpoint_id)
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
            **_delivery(endpoint_id, seq, f"test:{endpoint_id}", "test", utcnow())
        )
    )
    return {"event_id": event["event_id"]}


async def list_attempts(
    session: AsyncSession, tenant_id: str, endpoint_id: str, limit: int
) -> list[dict[str, Any]]:
    """The endpoint's latest attempts, newest first, with the event each was for."""
    await _row(session, tenant_id, endpoint_id)
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
            "attempted_at": _iso(row.attempted_at),
            "status_code": row.status_code,
            "error": row.error,
            "latency_ms": row.latency_ms,
            "response": row.response,
            # Where the delivery stands now: for a pending one, when it is tried next.
            "delivery_status": row.delivery_status,
            "next_attempt_at": (
                _iso(row.next_attempt_at) if row.delivery_status == PENDING else None
            ),
        }
        for row in rows
    ]


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
