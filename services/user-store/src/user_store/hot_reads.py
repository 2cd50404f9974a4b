"""The scim-api's two hottest reads as one statement each: the token check and a user by id,
or the token check and a ``userName eq`` lookup.

Profiles of the user-store under SCIM read load (issue 10) spent 60-70 % of its busy time in
SQLAlchemy (statement cache keys, ORM loading, greenlet hops) for reads that are two or three
statements: the token, the user, its links and groups. Here each is one statement on asyncpg's
own prepared-statement cache, over the same pooled connection (the read session's, autocommit):
one round trip. On SQLite (``roster dev``) the same statement, in SQLite's JSON dialect, runs
through aiosqlite's ``execute_fetchall``: one hop to the connection's thread instead of the
general path's two dozen (cursor, execute, fetch, close for each of six statements), which were
most of ``roster dev``'s time per read. Every other read keeps the general path
(:mod:`user_store.queries`), whose answers these must equal (the integration tests run both).

The user row is joined only for a token that matches (``k.secret_sha256``), so a statement
with a wrong token reads no user; the token is then checked again in Python, timing-equal,
by the same function as ``tokens/verify`` (:func:`user_store.tenants.token_live`).
"""

from __future__ import annotations

import json
from datetime import datetime
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


_LINKS = {
    "postgresql": """(SELECT json_agg(json_build_array(l.issuer, l.subject, l.subject_format)
                        ORDER BY l.created_at, l.issuer)
          FROM identity_links l WHERE l.user_id = u.id)::text""",
    # SQLite 3.40 has no ORDER BY inside an aggregate: it aggregates an ordered subquery.
    "sqlite": """(SELECT json_group_array(json_array(l.issuer, l.subject, l.subject_format))
          FROM (SELECT issuer, subject, subject_format FROM identity_links
                 WHERE user_id = u.id ORDER BY created_at, issuer) l)""",
}
_GROUPS = {
    "postgresql": """(SELECT json_agg(json_build_array(g.id, g.display_name)
                        ORDER BY g.display_name_key, g.id)
          FROM memberships m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = u.id)::text""",
    "sqlite": """(SELECT json_group_array(json_array(g.id, g.display_name))
          FROM (SELECT g.id, g.display_name FROM memberships m JOIN groups g ON g.id = m.group_id
                 WHERE m.user_id = u.id ORDER BY g.display_name_key, g.id) g)""",
}


def _statement(user_condition: str, dialect: str) -> str:
    # JSON columns as text (SQLite keeps them as text already); links by creation then issuer,
    # groups by display name key then id: the orders of snapshots.user_snapshots, which the
    # general path uses. Composed of this module's constants only: nothing a caller sent is in
    # the text. Parameters are $n (asyncpg) or ?n (SQLite's numbered form), each used by number.
    text = "::text" if dialect == "postgresql" else ""
    users = ", ".join(
        f"u.{name}{text} AS u_{name}" if name in _JSON_COLUMNS else f"u.{name} AS u_{name}"
        for name in _USER_COLUMNS
    )
    statement = f"""
SELECT t.id AS t_id, t.slug AS t_slug, t.display_name AS t_display_name, t.mode AS t_mode,
       t.settings{text} AS t_settings, t.created_at AS t_created_at,
       t.updated_at AS t_updated_at,
       k.tenant_id AS k_tenant_id, k.secret_sha256 AS k_secret, k.revoked_at AS k_revoked_at,
       {users},
       {_LINKS[dialect]} AS links,
       {_GROUPS[dialect]} AS groups
  FROM tenants t
  LEFT JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = $2
  LEFT JOIN users u ON u.tenant_id = t.id AND {user_condition} AND u.deleted_at IS NULL
                   AND k.revoked_at IS NULL AND k.secret_sha256 = $4
 WHERE t.id = $1 OR t.slug = $1
"""  # noqa: S608
    return statement if dialect == "postgresql" else statement.replace("$", "?")


_TENANT_COLUMNS = ("t_id", "t_slug", "t_display_name", "t_mode", "t_settings")
_COLUMNS = (
    *_TENANT_COLUMNS,
    *("t_created_at", "t_updated_at", "k_tenant_id", "k_secret", "k_revoked_at"),
    *(f"u_{name}" for name in _USER_COLUMNS),
    *("links", "groups"),
)
"""The statement's columns in order (SQLite rows are tuples)."""
_TIMES = frozenset({"t_created_at", "t_updated_at", "k_revoked_at"}) | {
    f"u_{name}" for name in ("created_at", "updated_at", "last_login_at")
}
_BOOLS = frozenset({"u_active", "u_scim_managed"})
_BY_ID = {d: _statement("u.id = $3", d) for d in ("postgresql", "sqlite")}
# userName keys are unique among live users of a tenant
_BY_USER_NAME = {d: _statement("u.user_name_key = $3", d) for d in ("postgresql", "sqlite")}


def _sqlite_value(name: str, value: Any) -> Any:
    """What SQLAlchemy's SQLite types would give the general path for a stored value."""
    if value is None:
        return None
    if name in _TIMES:
        return datetime.fromisoformat(value)
    if name in _BOOLS:
        return bool(value)
    return value


async def _row(session: AsyncSession, statement: dict[str, str], *args: str) -> Any:
    """The statement's one row (or None), in one round trip: a mapping by column name."""
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "sqlite":
        rows = await driver.execute_fetchall(statement["sqlite"], args)
        if not rows:
            return None
        return {
            name: _sqlite_value(name, value) for name, value in zip(_COLUMNS, rows[0], strict=True)
        }
    try:
        return await driver.fetchrow(statement["postgresql"], *args)
    except (asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
        # A connection lost mid-read: what SQLAlchemy would raise, so the caller answers
        # 503 "database not answering" as on the general path (routes.DATABASE_UNREACHABLE).
        raise sa_exc.InterfaceError(statement["postgresql"], None, exc) from exc


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
    session: AsyncSession, statement: dict[str, str], ref: str, token: str, key: str
) -> tuple[TenantInfo | None, UserSnapshot | None]:
    token_id, given = presented_token(token)
    row = await _row(session, statement, ref, token_id, key, given)
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
