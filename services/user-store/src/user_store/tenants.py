"""Tenant administration: create, list, show, set the mode, SCIM tokens (hashes only).

A SCIM token looks like ``rst_<token id>_<secret>``. Only the SHA-256 of the secret is stored:
the secret is 256 random bits, so a slow password hash would add nothing but latency to every
SCIM request. The token id lets a lookup find the one row to compare in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from roster_shared.events.envelope import new_id, utcnow
from roster_shared.ids import is_slug
from roster_shared.tenants import (
    SCIM_TOKEN,
    ProvisioningMode,
    TenantInfo,
    TenantPolicy,
    tenant_of,
    token_digest,
)
from roster_shared.tenants import presented_token as presented_token
from sqlalchemy import JSON, ColumnElement, bindparam, func, or_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from user_store.errors import Invalid, NotFound, Uniqueness, UnknownTenant
from user_store.tables import ScimTokenRow, TenantRow

TOKEN = SCIM_TOKEN


class IssuedToken(BaseModel):
    """A new SCIM token: the only time its secret is ever shown."""

    id: str
    tenant: str
    token: str
    label: str | None
    created_at: datetime


class TokenInfo(BaseModel):
    """A token as listed (never the secret)."""

    id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None


def tenant_info(row: TenantRow) -> TenantInfo:
    """The contract view of a tenant row."""
    return tenant_of(
        id=row.id,
        slug=row.slug,
        display_name=row.display_name,
        mode=row.mode,
        settings=row.settings,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def find_tenant_row(session: AsyncSession, ref: str) -> TenantRow:
    """A tenant by id or slug."""
    row = (
        (
            await session.execute(
                select(TenantRow).where(or_(col(TenantRow.id) == ref, col(TenantRow.slug) == ref))
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise UnknownTenant(f"no tenant {ref!r}")
    return row


async def get_tenant(session: AsyncSession, ref: str) -> TenantInfo:
    """A tenant by id or slug."""
    return tenant_info(await find_tenant_row(session, ref))


_UTC_TEXT = 'YYYY-MM-DD"T"HH24:MI:SS.US'


def tenants_json(ids: sa.BindParameter[Any]) -> ColumnElement[Any]:
    """A PostgreSQL scalar subquery: the tenants of the ids ``ids`` binds (an expanding bind
    parameter) as one JSON object, id → columns (NULL when none is found), for
    :func:`tenants_of_json`. The ingest consumer reads its
    batch's tenants inside its batch-wide statement with it, not with a query of its own. The
    times go as UTC text to the microsecond: JSON's own rendering follows the session's
    ``TimeZone``, and a float epoch would round the microseconds."""
    table = TenantRow.__table__  # type: ignore[attr-defined]

    def utc(column: Any) -> Any:
        return func.to_char(func.timezone("UTC", column), _UTC_TEXT)

    columns = func.json_build_object(
        "slug",
        table.c.slug,
        "display_name",
        table.c.display_name,
        "mode",
        table.c.mode,
        "settings",
        table.c.settings,
        "created_at",
        utc(table.c.created_at),
        "updated_at",
        utc(table.c.updated_at),
    )
    return (
        sa.select(func.json_object_agg(table.c.id, columns, type_=JSON))
        .where(table.c.id.in_(ids))
        .scalar_subquery()
    )


def tenants_of_json(
    ids: Sequence[str], found: dict[str, Any] | None
) -> dict[str, TenantInfo | None]:
    """Each id's tenant from :func:`tenants_json`'s object, or None: no tenant has that id."""
    found = found or {}
    return {
        tenant_id: _tenant_of_json(tenant_id, found[tenant_id]) if tenant_id in found else None
        for tenant_id in ids
    }


def _tenant_of_json(tenant_id: str, values: dict[str, Any]) -> TenantInfo:
    return tenant_of(
        id=tenant_id,
        slug=values["slug"],
        display_name=values["display_name"],
        mode=values["mode"],
        settings=values["settings"],
        created_at=_utc(values["created_at"]),
        updated_at=_utc(values["updated_at"]),
    )


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def list_tenants(session: AsyncSession) -> list[TenantInfo]:
    """Every tenant, by slug."""
    rows = (await session.execute(select(TenantRow).order_by(col(TenantRow.slug)))).scalars().all()
    return [tenant_info(row) for row in rows]


async def create_tenant(
    session: AsyncSession,
    slug: str,
    mode: ProvisioningMode,
    *,
    display_name: str | None = None,
    policy: TenantPolicy | None = None,
) -> TenantInfo:
    """A new tenant. The slug appears in URLs, so it is lower-case letters, digits and dashes."""
    if not is_slug(slug):
        raise Invalid(f"tenant slug {slug!r}: use 1-64 lower-case letters, digits and dashes")
    now = utcnow()
    row = TenantRow(
        id=new_id(),
        slug=slug,
        display_name=display_name,
        mode=mode.value,
        settings={"policy": (policy or TenantPolicy()).model_dump()},
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Uniqueness(f"tenant {slug!r} already exists") from exc
    return tenant_info(row)


async def update_tenant(
    session: AsyncSession,
    ref: str,
    *,
    mode: ProvisioningMode | None = None,
    policy: TenantPolicy | None = None,
    settings: dict[str, Any] | None = None,
) -> TenantInfo:
    """Change a tenant's mode, policy or a section of its settings (merged at the top level)."""
    row = await find_tenant_row(session, ref)
    if mode is not None:
        row.mode = mode.value
    merged = dict(row.settings)
    if policy is not None:
        merged["policy"] = policy.model_dump()
    if settings:
        merged.update(settings)
    row.settings = merged
    row.updated_at = utcnow()
    await session.flush()
    return tenant_info(row)


_digest = token_digest


async def issue_token(session: AsyncSession, ref: str, *, label: str | None = None) -> IssuedToken:
    """A new SCIM bearer token for the tenant; older tokens keep working until revoked."""
    tenant = await find_tenant_row(session, ref)
    token_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(16))
    secret = secrets.token_urlsafe(32)
    row = ScimTokenRow(
        id=token_id,
        tenant_id=tenant.id,
        secret_sha256=_digest(secret),
        label=label,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return IssuedToken(
        id=token_id,
        tenant=tenant.slug,
        token=f"rst_{token_id}_{secret}",
        label=label,
        created_at=row.created_at,
    )


async def list_tokens(session: AsyncSession, ref: str) -> list[TokenInfo]:
    """The tenant's tokens, without secrets."""
    tenant = await find_tenant_row(session, ref)
    rows = (
        (
            await session.execute(
                select(ScimTokenRow)
                .where(ScimTokenRow.tenant_id == tenant.id)
                .order_by(col(ScimTokenRow.created_at))
            )
        )
        .scalars()
        .all()
    )
    return [
        TokenInfo(id=r.id, label=r.label, created_at=r.created_at, revoked_at=r.revoked_at)
        for r in rows
    ]


async def revoke_token(session: AsyncSession, ref: str, token_id: str) -> TokenInfo:
    """Revoke one token of the tenant (immediately: verification reads the database)."""
    tenant = await find_tenant_row(session, ref)
    row = await session.get(ScimTokenRow, token_id)
    if row is None or row.tenant_id != tenant.id:
        raise NotFound(f"tenant {tenant.slug!r} has no token {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
    return TokenInfo(
        id=row.id, label=row.label, created_at=row.created_at, revoked_at=row.revoked_at
    )


# One statement, built once: the tenant and its token together. Every SCIM request asks this, so
# each round trip and each statement compilation counts (issue 10). A token of another tenant
# joins nothing.
_VERIFY = (
    select(TenantRow, ScimTokenRow)
    .outerjoin(
        ScimTokenRow,
        (col(ScimTokenRow.tenant_id) == col(TenantRow.id))
        & (col(ScimTokenRow.id) == bindparam("token_id")),
    )
    .where(or_(col(TenantRow.id) == bindparam("ref"), col(TenantRow.slug) == bindparam("ref")))
)


def token_live(
    given: str,
    tenant_id: str | None,
    token_tenant_id: str | None,
    secret_sha256: str | None,
    revoked_at: datetime | None,
) -> bool:
    """Whether the token whose digest is ``given`` is the live token found for the tenant."""
    # Compare even when something is missing, so timing does not tell which part was wrong.
    expected = secret_sha256 if secret_sha256 is not None else _digest("absent")
    same = hmac.compare_digest(expected, given)
    return (
        same
        and secret_sha256 is not None
        and tenant_id is not None
        and token_tenant_id == tenant_id
        and revoked_at is None
    )


async def verify_token(session: AsyncSession, ref: str, token: str) -> TenantInfo | None:
    """The tenant if ``token`` is one of its live tokens, else None (never says what failed)."""
    token_id, given = presented_token(token)
    found = (await session.execute(_VERIFY, {"ref": ref, "token_id": token_id})).first()
    tenant, row = (found[0], found[1]) if found is not None else (None, None)
    if not token_live(
        given,
        tenant.id if tenant is not None else None,
        row.tenant_id if row is not None else None,
        row.secret_sha256 if row is not None else None,
        row.revoked_at if row is not None else None,
    ):
        return None
    assert tenant is not None
    return tenant_info(tenant)
