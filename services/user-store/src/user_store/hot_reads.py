"""The scim-api's two hottest reads on PostgreSQL as one prepared statement each: the token
check and a user by id, or the token check and a ``userName eq`` lookup.

Profiles of the user-store under SCIM read load (issue 10) spent 60-70 % of its busy time in
SQLAlchemy (statement cache keys, ORM loading, greenlet hops) for reads that are two or three
statements: the token, the user, its links and groups. Here each is one statement on asyncpg's
own prepared-statement cache, over the same pooled connection (the read session's, autocommit):
one round trip. SQLite (``roster dev``) and every other read keep the general path
(:mod:`user_store.queries`), whose answers these must equal (the integration tests run both).

The user row is joined only for a token that matches (``k.secret_sha256``), so a statement
with a wrong token reads no user; the token is then checked again in Python, timing-equal,
by the same function as ``tokens/verify`` (:func:`user_store.tenants.token_live`).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from roster_shared.events.people import IdentityLink, MemberRef, UserSnapshot
from roster_shared.filters import Compare, ListQuery
from roster_shared.tenants import TenantInfo
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from user_store.filter_sql import USER_FILTERS, strip_urn
from user_store.identity import name_key
from user_store.snapshots import linked_snapshot
from user_store.tables import TenantRow, UserRow
from user_store.tenants import presented_token, tenant_info, token_live

_USER_COLUMNS = (
    "id",
    "tenant_id",
    "user_name",
    "external_id",
    "active",
    "display_name",
    "given_name",
    "family_name",
    "emails",
    "extra",
    "origin",
    "scim_managed",
    "version",
    "created_at",
    "updated_at",
    "last_login_at",
    "deactivated_reason",
)
_JSON_COLUMNS = frozenset({"emails", "extra"})


def _statement(user_condition: str) -> str:
    users = ", ".join(
        f"u.{name}::text AS u_{name}" if name in _JSON_COLUMNS else f"u.{name} AS u_{name}"
        for name in _USER_COLUMNS
    )
    # Links by creation then issuer, groups by display name key then id: the orders of
    # snapshots.user_snapshots, which the general path uses.
    # Composed of this module's constants only: nothing a caller sent is in the text.
    return f"""
SELECT t.id AS t_id, t.slug AS t_slug, t.display_name AS t_display_name, t.mode AS t_mode,
       t.settings::text AS t_settings, t.created_at AS t_created_at, t.updated_at AS t_updated_at,
       k.tenant_id AS k_tenant_id, k.secret_sha256 AS k_secret, k.revoked_at AS k_revoked_at,
       {users},
       (SELECT json_agg(json_build_array(l.issuer, l.subject, l.subject_format)
                        ORDER BY l.created_at, l.issuer)
          FROM identity_links l WHERE l.user_id = u.id)::text AS links,
       (SELECT json_agg(json_build_array(g.id, g.display_name)
                        ORDER BY g.display_name_key, g.id)
          FROM memberships m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = u.id)::text AS groups
  FROM tenants t
  LEFT JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = $2
  LEFT JOIN users u ON u.tenant_id = t.id AND {user_condition} AND u.deleted_at IS NULL
                   AND k.revoked_at IS NULL AND k.secret_sha256 = $4
 WHERE t.id = $1 OR t.slug = $1
"""  # noqa: S608


_BY_ID = _statement("u.id = $3")
_BY_USER_NAME = _statement("u.user_name_key = $3")  # unique among live users of a tenant


def is_user_name_lookup(query: ListQuery) -> bool:
    """Whether ``query`` is an IdP's ``userName eq "..."`` lookup that this module answers:
    the whole result (at most one live user) on a first page that has room for it, in the
    default order (so nothing about sorting or paging can be refused or minted)."""
    found = query.filter
    return (
        isinstance(found, Compare)
        and found.op == "eq"
        and isinstance(found.value, str)
        and strip_urn(found.attr, USER_FILTERS.urn) == "username"
        and query.sort_by is None
        and query.cursor is None
        and query.start_index == 1
        and query.count >= 2
        and "\x00" not in found.value  # the general path decides what a NUL gets
    )


async def _fetch(
    session: AsyncSession, statement: str, ref: str, token: str, key: str
) -> tuple[TenantInfo | None, UserSnapshot | None]:
    token_id, given = presented_token(token)
    connection = await (await session.connection()).get_raw_connection()
    driver: Any = connection.driver_connection
    try:
        row = await driver.fetchrow(statement, ref, token_id, key, given)
    except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
        # A connection lost mid-read: what SQLAlchemy would raise, so the caller answers
        # 503 "database not answering" as on the general path (routes.DATABASE_UNREACHABLE).
        raise sa_exc.InterfaceError(statement, None, exc) from exc
    if row is None or not token_live(
        given, row["t_id"], row["k_tenant_id"], row["k_secret"], row["k_revoked_at"]
    ):
        return None, None
    tenant = tenant_info(
        TenantRow(
            id=row["t_id"],
            slug=row["t_slug"],
            display_name=row["t_display_name"],
            mode=row["t_mode"],
            settings=json.loads(row["t_settings"]),
            created_at=row["t_created_at"],
            updated_at=row["t_updated_at"],
        )
    )
    if row["u_id"] is None:
        return tenant, None
    fields = {
        name: json.loads(row[f"u_{name}"]) if name in _JSON_COLUMNS else row[f"u_{name}"]
        for name in _USER_COLUMNS
    }
    links = [
        IdentityLink(issuer=issuer, subject=subject, subject_format=subject_format)
        for issuer, subject, subject_format in json.loads(row["links"] or "[]")
    ]
    groups = [MemberRef(id=gid, display=name) for gid, name in json.loads(row["groups"] or "[]")]
    return tenant, linked_snapshot(UserRow(**fields), links, groups)


async def token_user(
    session: AsyncSession, ref: str, token: str, user_id: str
) -> tuple[TenantInfo | None, UserSnapshot | None]:
    """``(tenant, user)``: tenant None when the token is not live for it; user None when the
    tenant has no live user of that id."""
    return await _fetch(session, _BY_ID, ref, token, user_id)


async def token_user_name(
    session: AsyncSession, ref: str, token: str, query: ListQuery
) -> tuple[TenantInfo | None, list[UserSnapshot]]:
    """``(tenant, the users of the lookup)`` of an :func:`is_user_name_lookup` query."""
    assert isinstance(query.filter, Compare)
    tenant, user = await _fetch(
        session, _BY_USER_NAME, ref, token, name_key(str(query.filter.value))
    )
    return tenant, [user] if user is not None else []
