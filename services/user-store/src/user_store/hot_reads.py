"""The hottest reads as one statement each: the token check alone (before every SCIM write),
the token check and a user by id, the token check
and a ``userName eq`` lookup (the scim-api's), a returning login's linked account
(``login_reads``), and, inside the apply of a login found by its own link, the account's links
and groups (``Logins._unchanged_login``).

Profiles of the user-store under SCIM read load (issue 10) spent 60-70 % of its busy time in
SQLAlchemy (statement cache keys, ORM loading, greenlet hops) for reads that are two or three
statements: the token, the user, its links and groups. Here each is one statement on asyncpg's
own prepared-statement cache, over the same pooled connection (the read session's, autocommit):
one round trip. On SQLite (``roster dev``) the same statement, in SQLite's JSON dialect, runs on
the event loop's own connection (:mod:`user_store.loop_reads`) or, inside a transaction or when
SQLite is busy, through aiosqlite's ``execute_fetchall``: one call instead of the general path's
two dozen thread hops (cursor, execute, fetch, close for each of six statements), which were
most of ``roster dev``'s time per read. Every other read keeps the general path
(:mod:`user_store.queries`), whose answers these must equal (the integration tests run both).

The user row is joined only for a token that matches (``k.secret_sha256``), so a statement
with a wrong token reads no user; the token is then checked again in Python, timing-equal,
by the same function as ``tokens/verify`` (:func:`user_store.tenants.token_live`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roster_shared.events.people import IdentityLink, MemberRef, UserSnapshot
from roster_shared.filters import Compare, ListQuery
from roster_shared.filters import is_user_name_lookup as is_user_name_lookup
from roster_shared.hot_rows import (
    JSON_COLUMNS,
    USER_COLUMNS,
    links_and_groups,
    tenant_of_row,
    user_columns,
    user_of_row,
    user_snapshot,
)
from roster_shared.tenants import TenantInfo
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from user_store.db import DRIVER_CONNECTION_LOST
from user_store.identity import name_key
from user_store.loop_reads import LoopReads, OnDemand
from user_store.tables import UserRow
from user_store.tenants import presented_token, token_live

_USER_COLUMNS = USER_COLUMNS
_JSON_COLUMNS = JSON_COLUMNS


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
    "postgresql": """(SELECT json_agg(json_build_array(g.id, g.display_name, g.display_name_key,
                                          g.origin)
                        ORDER BY g.display_name_key, g.id)
          FROM memberships m JOIN groups g ON g.id = m.group_id
         WHERE m.user_id = u.id)::text""",
    "sqlite": """(SELECT json_group_array(json_array(g.id, g.display_name, g.display_name_key,
                                           g.origin))
          FROM (SELECT g.id, g.display_name, g.display_name_key, g.origin
                  FROM memberships m JOIN groups g ON g.id = m.group_id
                 WHERE m.user_id = u.id ORDER BY g.display_name_key, g.id) g)""",
}


_DIALECTS = ("postgresql", "sqlite")


@dataclass(frozen=True)
class _Statement:
    """One statement in both dialects, and its columns in order (SQLite rows are tuples)."""

    columns: tuple[str, ...]
    text: dict[str, str]


def _compose(columns: dict[str, dict[str, str]], tail: str) -> _Statement:
    """``SELECT`` of ``columns`` (alias → expression per dialect) then ``tail``. Composed of this
    module's constants only: nothing a caller sent is in the text. Parameters are ``$n``
    (asyncpg) or ``?n`` (SQLite's numbered form), each used by number."""
    text = {}
    for dialect in _DIALECTS:
        select = ",\n       ".join(f"{e[dialect]} AS {alias}" for alias, e in columns.items())
        statement = f"SELECT {select}\n{tail}"
        text[dialect] = statement if dialect == "postgresql" else statement.replace("$", "?")
    return _Statement(tuple(columns), text)


def _same(expression: str) -> dict[str, str]:
    return dict.fromkeys(_DIALECTS, expression)


def _json(expression: str) -> dict[str, str]:
    # JSON as text: PostgreSQL casts it; SQLite keeps JSON as text already.
    return {"postgresql": f"{expression}::text", "sqlite": expression}


_TENANT = {
    "t_id": _same("t.id"),
    "t_slug": _same("t.slug"),
    "t_display_name": _same("t.display_name"),
    "t_mode": _same("t.mode"),
    "t_settings": _json("t.settings"),
    "t_created_at": _same("t.created_at"),
    "t_updated_at": _same("t.updated_at"),
}
# Links by creation then issuer, groups by display name key then id: the orders of
# snapshots.user_snapshots, which the general path uses.
_USER = {
    **{
        f"u_{name}": _json(f"u.{name}") if name in _JSON_COLUMNS else _same(f"u.{name}")
        for name in _USER_COLUMNS
    },
    "links": _LINKS,
    "groups": _GROUPS,
}
_TOKEN = {
    "k_tenant_id": _same("k.tenant_id"),
    "k_secret": _same("k.secret_sha256"),
    "k_revoked_at": _same("k.revoked_at"),
}


def _token_read(user_condition: str) -> _Statement:
    return _compose(
        {**_TENANT, **_TOKEN, **_USER},
        f"""  FROM tenants t
  LEFT JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = $2
  LEFT JOIN users u ON u.tenant_id = t.id AND {user_condition} AND u.deleted_at IS NULL
                   AND k.revoked_at IS NULL AND k.secret_sha256 = $4
 WHERE t.id = $1 OR t.slug = $1""",
    )


# A tenant by id or slug (``GET /internal/tenants/{ref}``: sso-login asks it on every login
# step, before it knows the tenant's connection).
_TENANT_BY_REF = _compose(_TENANT, "  FROM tenants t\n WHERE t.id = $1 OR t.slug = $1\n LIMIT 1")
# The token check alone (``tokens/verify``, asked before every SCIM write): the tenant and its
# token, no user. The same joins as ``_token_read``, so the answer is the same function's.
_TOKEN_CHECK = _compose(
    {**_TENANT, **_TOKEN},
    """  FROM tenants t
  LEFT JOIN scim_tokens k ON k.tenant_id = t.id AND k.id = $2
 WHERE t.id = $1 OR t.slug = $1""",
)
_BY_ID = _token_read("u.id = $3")
# userName keys are unique among live users of a tenant
_BY_USER_NAME = _token_read("u.user_name_key = $3")


# A login's own link (the identity-link key is unique per tenant), and the tenant's groups of
# the keys the login names (their origins decide what the login's group claims would do).
def _named(param: str) -> dict[str, str]:
    """The tenant's groups of the keys in parameter ``param`` (a list), with their origins.
    ``param`` is this module's own placeholder (``$2``, ``$4``), never a caller's text."""
    return {
        "postgresql": f"""(SELECT json_agg(json_build_array(n.display_name_key, n.origin))
          FROM groups n
         WHERE n.tenant_id = t.id AND n.display_name_key = ANY({param}::text[]))::text""",  # noqa: S608
        "sqlite": f"""(SELECT json_group_array(json_array(n.display_name_key, n.origin))
          FROM groups n
         WHERE n.tenant_id = t.id
           AND n.display_name_key IN (SELECT value FROM json_each({param})))""",  # noqa: S608
    }


_BY_LINK = _compose(
    {**_TENANT, **_USER, "named": _named("$4")},
    """  FROM tenants t
  LEFT JOIN identity_links il ON il.tenant_id = t.id AND il.issuer = $2 AND il.subject = $3
  LEFT JOIN users u ON u.id = il.user_id AND u.deleted_at IS NULL
 WHERE t.id = $1 OR t.slug = $1""",
)
# The apply of a login found by its own link: the account's links and groups (its snapshot),
# and the tenant's groups the login names — what the login's group claims would change.
_ACCOUNT_GROUPS = _compose(
    {"links": _LINKS, "groups": _GROUPS, "named": _named("$2")},
    "  FROM users u JOIN tenants t ON t.id = u.tenant_id\n WHERE u.id = $1",
)
_TIMES = frozenset({"t_created_at", "t_updated_at", "k_revoked_at"}) | {
    f"u_{name}" for name in ("created_at", "updated_at", "last_login_at")
}
_BOOLS = frozenset({"u_active", "u_scim_managed"})


def _sqlite_value(name: str, value: Any) -> Any:
    """What SQLAlchemy's SQLite types would give the general path for a stored value."""
    if value is None:
        return None
    if name in _TIMES:
        return datetime.fromisoformat(value)
    if name in _BOOLS:
        return bool(value)
    return value


def _sqlite_row(statement: _Statement, rows: Any) -> dict[str, Any] | None:
    for row in rows:
        return {
            name: _sqlite_value(name, value)
            for name, value in zip(statement.columns, row, strict=True)
        }
    return None


Reader = AsyncSession | AsyncConnection | OnDemand
"""Where a statement runs when the loop's connection does not answer it: a session, a
connection, or one opened on demand (:class:`user_store.loop_reads.OnDemand`)."""


async def _row(
    session: Reader,
    statement: _Statement,
    *args: Any,
    loop: LoopReads | None = None,
) -> Any:
    """The statement's one row (or None), in one round trip: a mapping by column name.
    ``session`` may be a bare connection (no ORM session at all, :func:`verified_tenant`). A
    list argument is a PostgreSQL array, and JSON text for SQLite's ``json_each``. With ``loop``
    (SQLite) the statement runs on the loop's own connection, and the session is not used
    unless SQLite is busy there."""
    given = [json.dumps(a) if isinstance(a, list) else a for a in args]
    if loop is not None:
        rows = loop.fetch(statement.text["sqlite"], given)
        if rows is not None:
            return _sqlite_row(statement, rows)
    connection = session if isinstance(session, AsyncConnection) else await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    if connection.dialect.name == "sqlite":
        return _sqlite_row(
            statement, await driver.execute_fetchall(statement.text["sqlite"], given)
        )
    try:
        return await driver.fetchrow(statement.text["postgresql"], *args)
    except DRIVER_CONNECTION_LOST as exc:
        # A connection lost mid-read: what SQLAlchemy would raise, so the caller answers
        # 503 "database not answering" as on the general path (routes.DATABASE_UNREACHABLE).
        raise sa_exc.InterfaceError(statement.text["postgresql"], None, exc) from exc


async def _fetch(
    session: Reader,
    statement: _Statement,
    ref: str,
    token: str,
    key: str,
    loop: LoopReads | None,
) -> tuple[TenantInfo | None, UserSnapshot | None]:
    token_id, given = presented_token(token)
    row = await _row(session, statement, ref, token_id, key, given, loop=loop)
    if row is None or not token_live(
        given, row["t_id"], row["k_tenant_id"], row["k_secret"], row["k_revoked_at"]
    ):
        return None, None
    # No UserRow on this path: the shared conversion builds the snapshot from the row itself.
    return tenant_of_row(row), user_of_row(row)


@dataclass(frozen=True)
class Account:
    """A user as one statement read it: the row, its snapshot, and its groups' origins."""

    row: UserRow
    snapshot: UserSnapshot
    member_of: dict[str, str]
    """Key → origin of each group the user is in."""


def _user(row: Any) -> Account:
    fields = user_columns(row)
    links, groups, member_of = links_and_groups(row)
    return Account(
        row=UserRow(**fields), snapshot=user_snapshot(fields, links, groups), member_of=member_of
    )


@dataclass(frozen=True)
class LinkedAccount:
    """What a login's read found: the tenant, the live account its link points at (if any),
    and the origins of the tenant's groups the login names (by key)."""

    tenant: TenantInfo
    account: Account | None
    named: dict[str, str]


async def linked_account(
    session: Reader,
    ref: str,
    issuer: str,
    subject: str,
    group_keys: list[str],
    loop: LoopReads | None = None,
) -> LinkedAccount | None:
    """The tenant ``ref`` (None when there is none) and the live account linked to
    ``(issuer, subject)`` with its groups, and the tenant's groups of ``group_keys``."""
    row = await _row(session, _BY_LINK, ref, issuer, subject, group_keys, loop=loop)
    if row is None:
        return None
    account = _user(row) if row["u_id"] is not None else None
    named = {key: origin for key, origin in json.loads(row["named"] or "[]")}
    return LinkedAccount(tenant=tenant_of_row(row), account=account, named=named)


async def tenant(session: Reader, ref: str, loop: LoopReads | None = None) -> TenantInfo | None:
    """The tenant ``ref`` (id or slug), or None: :func:`user_store.tenants.get_tenant` in one
    prepared statement on a bare connection, no ORM session."""
    row = await _row(session, _TENANT_BY_REF, ref, loop=loop)
    return None if row is None else tenant_of_row(row)


async def verified_tenant(
    session: Reader, ref: str, token: str, loop: LoopReads | None = None
) -> TenantInfo | None:
    """The tenant ``ref`` when ``token`` is one of its live tokens, else None (never says what
    failed): :func:`user_store.tenants.verify_token` in one prepared statement, no ORM. On a
    bare connection (``tokens/verify``, before every SCIM write) it costs about 0.3 ms of CPU,
    against 0.7 ms in an ``AsyncSession`` and 0.95 ms for the ORM query (measured, issue 10)."""
    token_id, given = presented_token(token)
    row = await _row(session, _TOKEN_CHECK, ref, token_id, loop=loop)
    if row is None or not token_live(
        given, row["t_id"], row["k_tenant_id"], row["k_secret"], row["k_revoked_at"]
    ):
        return None
    return tenant_of_row(row)


async def token_user(
    session: Reader,
    ref: str,
    token: str,
    user_id: str,
    loop: LoopReads | None = None,
) -> tuple[TenantInfo | None, UserSnapshot | None]:
    """``(tenant, user)``: tenant None when the token is not live for it; user None when the
    tenant has no live user of that id."""
    return await _fetch(session, _BY_ID, ref, token, user_id, loop)


async def token_user_name(
    session: Reader,
    ref: str,
    token: str,
    query: ListQuery,
    loop: LoopReads | None = None,
) -> tuple[TenantInfo | None, list[UserSnapshot]]:
    """``(tenant, the users of the lookup)`` of an :func:`is_user_name_lookup` query."""
    assert isinstance(query.filter, Compare)
    tenant, user = await _fetch(
        session, _BY_USER_NAME, ref, token, name_key(str(query.filter.value)), loop
    )
    return tenant, [user] if user is not None else []


@dataclass(frozen=True)
class AccountGroups:
    """An account's links and groups (for its snapshot), key → origin of its groups, and of
    the tenant's groups a login names."""

    links: list[IdentityLink]
    groups: list[MemberRef]
    member_of: dict[str, str]
    named: dict[str, str]


async def account_groups(
    session: AsyncSession, user_id: str, group_keys: list[str]
) -> AccountGroups | None:
    """:class:`AccountGroups` of the user ``user_id`` (None when there is no such row), in one
    statement on the session's connection — inside its transaction when it has one, so flush
    first: the statement does not see what the session has not flushed."""
    row = await _row(session, _ACCOUNT_GROUPS, user_id, group_keys)
    if row is None:
        return None
    links, groups, member_of = links_and_groups(row)
    named = {key: origin for key, origin in json.loads(row["named"] or "[]")}
    return AccountGroups(links=links, groups=groups, member_of=member_of, named=named)
