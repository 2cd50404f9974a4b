"""The reader role: a PostgreSQL login that may call the token-checked read functions and
nothing else (migration 0009), for a scim-api that reads the database directly.

Only the user-store writes the database, and only it reads tables. A scim-api given
``ROSTER_READER_DATABASE_URL`` connects as this role and calls the three functions, each of which
checks the presented token inside the database before it returns a row. The role is granted
``CONNECT`` on the database, ``USAGE`` on the schema (to name the functions) and ``EXECUTE`` on
those functions: no table, no sequence. :func:`reader_only_problems` checks exactly that, so
``roster db reader-role --apply`` refuses to hand out a role that can read more.

Roles belong to the whole PostgreSQL cluster, grants to one database: an operator runs this once
per database (and again after a migration that adds a function).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]

READER_FUNCTIONS = (
    "roster_token_tenant(text, text, text)",
    "roster_token_user(text, text, text, text)",
    "roster_token_user_name(text, text, text, text)",
)
"""The functions of migration 0009, by signature (what ``GRANT EXECUTE`` names)."""

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ReaderRoleError(Exception):
    """The role cannot be made a reader: a bad name, or it can do more than read."""


def quoted(identifier: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def check_name(role: str) -> str:
    """``role`` when it is a plain lower-case role name (letters, digits, ``_``)."""
    if not _ROLE.match(role):
        raise ReaderRoleError(f"role name {role!r}: use 1-63 lower-case letters, digits and _")
    return role


def grant_statements(role: str, database: str, schema: str) -> list[str]:
    """What makes ``role`` (which must exist and may log in) a reader of ``database``."""
    name, where = quoted(check_name(role)), quoted(schema)
    return [
        f"GRANT CONNECT ON DATABASE {quoted(database)} TO {name}",
        f"GRANT USAGE ON SCHEMA {where} TO {name}",
        *(f"GRANT EXECUTE ON FUNCTION {where}.{fn} TO {name}" for fn in READER_FUNCTIONS),
    ]


def create_statement(role: str) -> str:
    """Create ``role`` as a login role unless it exists (no password: set one, or use the
    cluster's other authentication)."""
    name = check_name(role)
    return (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
        f"CREATE ROLE {quoted(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS; "
        "END IF; END $$"
    )


@dataclass(frozen=True)
class Applied:
    """What :func:`apply` did: the statements run, in order."""

    role: str
    database: str
    schema: str
    statements: list[str]
    warnings: list[str]
    """What the operator should know but that does not stop the role being a reader."""


async def apply(
    connection: asyncpg.Connection, role: str, *, password: str | None = None
) -> Applied:
    """Create ``role`` if missing, set its password if given, grant it the reader functions of
    the connection's database and schema, then check it can do nothing more
    (:class:`ReaderRoleError` naming what it can do, the grants kept for the operator to look
    at). Run as the owner of Roster's tables (who ran ``roster migrate``)."""
    database = await connection.fetchval("SELECT current_database()")
    schema = await connection.fetchval("SELECT current_schema()")
    statements = [create_statement(role)]
    async with connection.transaction():
        for statement in [*statements, *grant_statements(role, database, schema)]:
            await connection.execute(statement)
        if password is not None:
            # A parameter cannot stand in a utility statement: quote the literal ourselves.
            literal = "'" + password.replace("'", "''") + "'"
            await connection.execute(f"ALTER ROLE {quoted(role)} LOGIN PASSWORD {literal}")
    problems = await reader_only_problems(connection, role, schema)
    if problems:
        raise ReaderRoleError(
            f"role {role!r} can do more than call the reader functions: " + "; ".join(problems)
        )
    warnings = [
        f"{name} runs as the superuser {owner!r} (SECURITY DEFINER): let a non-superuser "
        "own Roster's tables and run `roster migrate`"
        for name, owner in await superuser_owned(connection, schema)
    ]
    return Applied(
        role, database, schema, [*statements, *grant_statements(role, database, schema)], warnings
    )


async def superuser_owned(connection: asyncpg.Connection, schema: str) -> list[tuple[str, str]]:
    """The reader functions of ``schema`` owned by a superuser, with the owner: a
    ``SECURITY DEFINER`` function runs with its owner's rights, so a superuser owner turns any
    flaw in it into a superuser's."""
    rows = await connection.fetch(
        """SELECT p.proname, r.rolname FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             JOIN pg_roles r ON r.oid = p.proowner
            WHERE n.nspname = $1 AND p.proname = ANY($2::text[]) AND r.rolsuper
            ORDER BY p.proname""",
        schema,
        [fn.partition("(")[0] for fn in READER_FUNCTIONS],
    )
    return [(row["proname"], row["rolname"]) for row in rows]


async def reader_only_problems(connection: asyncpg.Connection, role: str, schema: str) -> list[str]:
    """What ``role`` may do beyond calling the reader functions (empty: nothing): superuser or
    row-security bypass, any privilege on a table, view or sequence of ``schema`` (its own or
    inherited from roles it is a member of), or creating objects there."""
    problems = []
    flags = await connection.fetchrow(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolcanlogin "
        "FROM pg_roles WHERE rolname = $1",
        role,
    )
    if flags is None:
        return [f"no role {role!r}"]
    for flag, what in (
        ("rolsuper", "is a superuser"),
        ("rolbypassrls", "bypasses row security"),
        ("rolcreaterole", "may create roles"),
        ("rolcreatedb", "may create databases"),
    ):
        if flags[flag]:
            problems.append(what)
    if not flags["rolcanlogin"]:
        problems.append("cannot log in")
    tables = await connection.fetch(
        """SELECT c.relname,
                  array_remove(ARRAY[
                      CASE WHEN has_table_privilege($1, c.oid, 'SELECT') THEN 'SELECT' END,
                      CASE WHEN has_table_privilege($1, c.oid, 'INSERT') THEN 'INSERT' END,
                      CASE WHEN has_table_privilege($1, c.oid, 'UPDATE') THEN 'UPDATE' END,
                      CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'DELETE' END,
                      CASE WHEN has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END
                  ], NULL) AS granted
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
            ORDER BY c.relname""",
        role,
        schema,
    )
    for table in tables:
        if table["granted"]:
            problems.append(f"{', '.join(table['granted'])} on {table['relname']}")
    if await connection.fetchval("SELECT has_schema_privilege($1, $2, 'CREATE')", role, schema):
        problems.append(f"CREATE in schema {schema}")
    return problems
