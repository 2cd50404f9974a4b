"""``roster db reader-role NAME``: the PostgreSQL role a scim-api reads the database as.

A scim-api given ``ROSTER_READER_DATABASE_URL`` answers GET by id, ``userName eq`` lookups and
the token check before a write from the token-checked functions of migration 0009, as this role
(``user_store.reader_role``): it may call them and nothing else. Without ``--apply`` the command
prints the statements for a DBA to run; with it, it runs them on ``--database-url`` (the owner of
Roster's tables, who ran ``roster migrate``), creating the role if missing, setting its password
from ``$ROSTER_READER_PASSWORD`` when that is set, and checks that the role can read no table.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
from user_store.reader_role import (
    ReaderRoleError,
    apply,
    check_name,
    create_statement,
    grant_statements,
)

from roster_cli.failures import CommandFailed
from roster_cli.tenants import Outcome

DATABASE_ENV = "ROSTER_DATABASE_URL"
PASSWORD_ENV = "ROSTER_READER_PASSWORD"  # noqa: S105 - the variable's name


def add_parser(commands: Any, json_option: argparse.ArgumentParser) -> None:
    """Register ``roster db reader-role`` on the CLI's sub-command table."""
    db = commands.add_parser(
        "db",
        help="database roles for the services",
        description="PostgreSQL roles the services connect as.",
    )
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    reader = actions.add_parser(
        "reader-role",
        parents=[json_option],
        help="the role a scim-api reads the database as (ROSTER_READER_DATABASE_URL)",
        description="Print (or with --apply run) the statements that let role NAME call the "
        "token-checked read functions and nothing else: CONNECT on the database, USAGE on "
        "the schema, EXECUTE on the three functions. --apply creates the role (LOGIN) if "
        f"missing, sets its password from ${PASSWORD_ENV} when set, and refuses a role that "
        "can read any table.",
    )
    reader.add_argument("name", help="the role, e.g. roster_reader")
    reader.add_argument(
        "--database-url",
        metavar="URL",
        help=f"the database, as the owner of Roster's tables (default: ${DATABASE_ENV})",
    )
    reader.add_argument("--schema", default="public", help="printing: the schema (public)")
    reader.add_argument("--apply", action="store_true", help="run the statements")


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get(DATABASE_ENV)
    if not url:
        raise CommandFailed("settings", f"give --database-url or set ${DATABASE_ENV}")
    parts = urlsplit(url)
    if not parts.scheme.startswith(("postgresql", "postgres")):
        raise CommandFailed("settings", "the reader role is PostgreSQL's: SQLite has no roles")
    return urlunsplit(parts._replace(scheme="postgresql"))


async def run(args: argparse.Namespace) -> Outcome:
    """Print or apply the reader role's statements."""
    try:
        role = check_name(args.name)
    except ReaderRoleError as error:
        raise CommandFailed("invalid", str(error)) from error
    url = _database_url(args)
    if not args.apply:
        database = urlsplit(url).path.lstrip("/")
        statements = [create_statement(role), *grant_statements(role, database, args.schema)]
        text = ";\n".join(statements) + ";\n-- then give it a password or another way to log in"
        return Outcome({"role": role, "statements": statements, "applied": False}, text)
    connection = await asyncpg.connect(url)
    try:
        applied = await apply(connection, role, password=os.environ.get(PASSWORD_ENV))
    except ReaderRoleError as error:
        raise CommandFailed("not_reader_only", str(error)) from error
    except asyncpg.PostgresError as error:
        raise CommandFailed("database", f"database error: {error}") from error
    finally:
        await connection.close()
    return Outcome(
        {
            "role": role,
            "database": applied.database,
            "schema": applied.schema,
            "statements": applied.statements,
            "applied": True,
            "warnings": applied.warnings,
        },
        f"Role {role} may call the reader functions of {applied.database} "
        f"(schema {applied.schema}) and read no table."
        + "".join(f"\nwarning: {w}" for w in applied.warnings),
    )
