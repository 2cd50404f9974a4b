"""A tenant's webhook endpoints and their signing secrets: create, read, rotate a secret, pause
and resume, delete (functions of a session; the caller begins the transaction).

The secrets are ciphertext under the webhooks service's key: the user-store stores and returns
them but cannot read them. Every read is scoped to the tenant, so another tenant's endpoint is
not found rather than refused.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.db import as_utc
from user_store.errors import NotFound
from user_store.webhooks.tables import ACTIVE, PAUSED, PENDING, attempts, deliveries, endpoints


def iso(moment: datetime | None) -> str | None:
    """The moment as ISO 8601 with its zone (UTC where SQLite dropped it), or None."""
    return as_utc(moment).isoformat() if moment is not None else None


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
        "paused_at": iso(row.paused_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
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


async def endpoint_row(session: AsyncSession, tenant_id: str, endpoint_id: str) -> Any:
    """The tenant's endpoint row, or :class:`NotFound` (another tenant's endpoint is not found)."""
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


async def pending_counts(session: AsyncSession, endpoint_ids: list[str]) -> dict[str, int]:
    """How many deliveries each endpoint has pending (endpoints with none are left out)."""
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
    row = await endpoint_row(session, tenant_id, endpoint_id)
    return endpoint_json(row, (await pending_counts(session, [row.id])).get(row.id, 0))


async def list_endpoints(session: AsyncSession, tenant_id: str) -> list[dict[str, Any]]:
    """The tenant's endpoints, oldest first."""
    rows = (
        await session.execute(
            sa.select(endpoints)
            .where(endpoints.c.tenant_id == tenant_id)
            .order_by(endpoints.c.created_at)
        )
    ).all()
    pending = await pending_counts(session, [row.id for row in rows])
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
    row = await endpoint_row(session, tenant_id, endpoint_id)
    now = utcnow()
    live = [s for s in row.secrets if not expired(s, now)]
    kept = [{**live[-1], "expires_at": previous_expire_at.isoformat()}] if live else []
    await session.execute(
        sa.update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(secrets=[*kept, secret], updated_at=now)
    )
    return await get_endpoint(session, tenant_id, endpoint_id)


def expired(secret: dict[str, Any], now: datetime) -> bool:
    """Whether a rotated-out secret has stopped signing."""
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


async def delete_endpoint(session: AsyncSession, tenant_id: str, endpoint_id: str) -> int:
    """Remove the tenant's endpoint, its deliveries and their attempts; returns how many of the
    deliveries were still pending (dropped: nobody is there to receive them any more).

    The consumed events stay: other endpoints' deliveries and replays read them, and retention
    prunes them. An attempt in flight when this commits is not recorded (see
    :func:`.deliveries.record_attempt`)."""
    await endpoint_row(session, tenant_id, endpoint_id)
    dropped = (await pending_counts(session, [endpoint_id])).get(endpoint_id, 0)
    await session.execute(sa.delete(attempts).where(attempts.c.endpoint_id == endpoint_id))
    await session.execute(sa.delete(deliveries).where(deliveries.c.endpoint_id == endpoint_id))
    await session.execute(sa.delete(endpoints).where(endpoints.c.id == endpoint_id))
    return dropped
