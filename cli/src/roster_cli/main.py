"""The ``roster`` command: ``dev``, ``serve``, ``migrate`` and ``tenant`` administration.

Administration goes to one of two places. ``--url URL`` (or ``$ROSTER_URL``) with the admin token
(``--admin-token`` or ``$ROSTER_ADMIN_TOKEN``): the running services' admin APIs, the production
way. Otherwise a database: the embedded data directory (``--data DIR``, ``$ROSTER_DATA``,
``./.roster``) or ``--database-url`` / ``$ROSTER_DATABASE_URL``. No command but ``roster
migrate`` (and ``roster dev``, for its own data directory) ever changes a schema: a database
behind is an error that names the ``roster migrate`` to run.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from alembic.util import CommandError
from pydantic import ValidationError
from roster_shared.tenants import ProvisioningMode
from sqlalchemy.exc import SQLAlchemyError
from user_store.errors import UserStoreError

from roster_cli import connections as connection_commands
from roster_cli import data as data_paths
from roster_cli import reconcile as reconcile_commands
from roster_cli import tenants as tenant_commands
from roster_cli.api import AdminApi
from roster_cli.direct import DatabaseAdmin
from roster_cli.failures import CommandFailed
from roster_cli.schema import SchemaBehind
from roster_cli.tenants import Admin, Outcome

SERVICES = {
    "user-store": "user_store.__main__",
    "scim-api": "scim_api.__main__",
    "sso-login": "sso_login.__main__",
    "reconciler": "reconciler.__main__",
}
MODES = [mode.value for mode in ProvisioningMode]


URL_ENV = "ROSTER_URL"
ADMIN_TOKEN_ENV = "ROSTER_ADMIN_TOKEN"  # noqa: S105 - the variable's name
__all__ = ["CommandFailed", "build_parser", "main"]


def _version() -> str:
    try:
        return version("roster-cli")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "unknown"


def _database_options(*, api: bool = False, url_flag: bool = True) -> argparse.ArgumentParser:
    """Where a command works: ``--data`` / ``--database-url``, and with ``api`` also ``--url``
    (spelt ``--admin-url`` too, and only so where ``--url`` means something else)."""
    parent = argparse.ArgumentParser(add_help=False)
    where = parent.add_mutually_exclusive_group()
    if api:
        where.add_argument(
            *(["--url", "--admin-url"] if url_flag else ["--admin-url"]),
            dest="admin_url",
            metavar="URL",
            help="administer a running Roster through its admin API at URL (production; "
            "default: $ROSTER_URL); needs --admin-token",
        )
        parent.add_argument(
            "--admin-token",
            metavar="TOKEN",
            help="bearer credential of the admin API (default: $ROSTER_ADMIN_TOKEN)",
        )
    where.add_argument(
        "--data",
        metavar="DIR",
        help="data directory of the embedded database (default: $ROSTER_DATA or ./.roster)",
    )
    where.add_argument(
        "--database-url",
        metavar="URL",
        help="database URL, e.g. postgresql://user@host/roster (default: $ROSTER_DATABASE_URL)"
        + ("; used as it is: a schema behind is an error naming `roster migrate`" if api else ""),
    )
    return parent


def _json_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", help="print exactly one JSON object on stdout"
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="roster",
        description="Roster: provision your app's users from your customers' identity "
        "providers, by SCIM 2.0 and just-in-time at SSO login.",
    )
    parser.add_argument("--version", action="version", version=f"roster {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev",
        help="run every service in one process (SQLite, in-process bus)",
        description="Run user-store, scim-api, sso-login and the reconciler in one process on "
        "one port, with the data in an SQLite database. Creates a demo tenant on first start.",
    )
    dev.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    dev.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    dev.add_argument(
        "--data", metavar="DIR", help="data directory (default: $ROSTER_DATA or ./.roster)"
    )

    serve = commands.add_parser(
        "serve",
        help="run one service, configured by ROSTER_* environment variables",
        description="Run one service on its own (production: Kafka and PostgreSQL), its "
        "settings read from ROSTER_* environment variables.",
    )
    serve.add_argument("service", choices=sorted(SERVICES))

    commands.add_parser(
        "migrate",
        parents=[_database_options()],
        help="bring the database schema up to date",
        description="Apply the database migrations (Alembic) up to the newest schema.",
    )

    tenant = commands.add_parser(
        "tenant",
        help="tenant administration",
        description="Create and manage tenants and their SCIM tokens: through the user-store's "
        "admin API with --url (production), or in the embedded data directory (also while "
        "`roster dev` runs on it). Never migrates: run `roster migrate` first.",
    )
    tenant_commands_ = tenant.add_subparsers(dest="tenant_command", required=True, metavar="ACTION")
    common = [_database_options(api=True), _json_option()]
    create = tenant_commands_.add_parser("create", parents=common, help="create a tenant")
    create.add_argument("slug", help="lower-case letters, digits and dashes; appears in URLs")
    create.add_argument(
        "--mode",
        choices=MODES,
        default=ProvisioningMode.SCIM_JIT.value,
        help="provisioning mode (default: scim+jit, recommended)",
    )
    create.add_argument("--display-name", help="a name for people to read")
    tenant_commands_.add_parser("list", parents=common, help="list tenants")
    show = tenant_commands_.add_parser("show", parents=common, help="show a tenant and its tokens")
    show.add_argument("slug")
    set_mode = tenant_commands_.add_parser(
        "set-mode", parents=common, help="change a tenant's provisioning mode"
    )
    set_mode.add_argument("slug")
    set_mode.add_argument("mode", choices=MODES)
    _add_advise(tenant_commands_, common)
    _add_reconcile(commands, common)
    token = tenant_commands_.add_parser("token", help="SCIM bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    token_create = token_commands.add_parser(
        "create", parents=common, help="issue a SCIM token (shown once)"
    )
    token_create.add_argument("slug")
    token_create.add_argument("--label", help="what the token is for, e.g. 'okta-prod'")
    token_revoke = token_commands.add_parser("revoke", parents=common, help="revoke a SCIM token")
    token_revoke.add_argument("slug")
    token_revoke.add_argument("token_id", help="the token's id (see `roster tenant show`)")
    connection_commands.add_parser(commands, [_database_options(api=True), _json_option()])
    return parser


def _add_reconcile(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    directory = commands.add_parser(
        "directory",
        help="a tenant's directory connector (read-only, for the reconciler)",
        description="Set the directory the reconciler reads to find who left.",
    )
    actions = directory.add_subparsers(dest="directory_command", required=True, metavar="ACTION")
    connect = actions.add_parser(
        "connect",
        parents=[_database_options(api=True, url_flag=False), _json_option()],
        help="set the tenant's directory connector",
        description="Set the tenant's read-only directory connector. The token is stored "
        "encrypted under ROSTER_DIRECTORY_KEY (embedded: a key kept in DIR/directory-key).",
    )
    connect.add_argument("tenant")
    connect.add_argument("--kind", required=True, choices=["graph", "okta", "google", "scim"])
    connect.add_argument(
        "--url", help="the API base (default: the vendor's; required for okta and scim)"
    )
    connect.add_argument("--token", required=True, help="a read-only API credential")

    reconcile = commands.add_parser(
        "reconcile",
        parents=common,
        help="run the reconciler for a tenant now, or approve a held run",
        description="Run the reconciler for one tenant now and print the run record. With "
        "--url the running reconciler does it (its admin API); with --data the user-store runs "
        "in this process for the length of the run.",
    )
    reconcile.add_argument("tenant")
    what = reconcile.add_mutually_exclusive_group()
    what.add_argument("--dry-run", action="store_true", help="report; change nothing")
    what.add_argument("--approve", metavar="RUN_ID", help="carry out a run the brake held")
    what.add_argument("--reject", metavar="RUN_ID", help="drop a run the brake held")
    what.add_argument("--runs", action="store_true", help="list the latest run records")
    reconcile.add_argument("--by", default="cli", help="who approves or rejects (the record)")
    reconcile.add_argument("--limit", type=int, default=20, help="--runs: how many (20)")


def _add_advise(actions: Any, common: list[argparse.ArgumentParser]) -> None:
    advise = actions.add_parser(
        "advise",
        parents=common,
        help="recommend a provisioning mode for a customer's requirements",
        description="Recommend scim, jit or scim+jit from a customer's requirements, with the "
        "reasons and the worst-case delay between someone leaving and losing access.",
    )
    advise.add_argument("--idp", required=True, metavar="NAME", help="okta, entra, google, ...")
    advise.add_argument("--soc2", action="store_true", help="SOC 2 or a similar audit applies")
    advise.add_argument(
        "--immediate-deprovisioning",
        action="store_true",
        help="leavers must lose access immediately",
    )
    advise.add_argument("--no-scim", action="store_true", help="their IdP plan cannot push SCIM")
    advise.add_argument(
        "--directory-api",
        action="store_true",
        help="they can grant read-only access to their directory's API",
    )
    advise.add_argument("--users", type=int, metavar="N", help="expected number of users")
    advise.add_argument(
        "--tenant", metavar="SLUG", help="use this tenant's reconciler policy (intervals)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``roster`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    try:
        if args.command == "dev":
            return _dev(args)
        if args.command == "serve":
            return _serve(args.service)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "connection":
            metadata = _metadata(args)
            outcome = _run(_connection_command(args, _admin(args), metadata))
        elif args.command in ("directory", "reconcile"):
            outcome = _run(_reconcile_command(args))
        else:
            outcome = _run(_tenant_command(args))
    except CommandFailed as failure:
        return _fail(failure.code, failure.detail, as_json)
    _print(outcome, as_json)
    return 0


def _fail(code: str, detail: str, as_json: bool) -> int:
    print(f"roster: error: {detail}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": code, "detail": detail}))
    return 1


def _print(outcome: Outcome, as_json: bool) -> None:
    print(json.dumps(outcome.data) if as_json else outcome.text)


def _run(work: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run one administration command, turning expected failures into :class:`CommandFailed`."""
    from reconciler.credentials import CredentialError
    from reconciler.errors import ReconcilerError

    try:
        return asyncio.run(work)
    except SchemaBehind as error:
        raise CommandFailed("schema", error.detail) from error
    except ReconcilerError as error:
        raise CommandFailed(error.code, error.detail) from error
    except CredentialError as error:
        raise CommandFailed("not_configured", str(error)) from error
    except UserStoreError as error:
        raise CommandFailed(error.code.value, error.detail) from error
    except (SQLAlchemyError, CommandError, OSError) as error:
        raise CommandFailed("database", f"database error: {error}") from error


def _url(args: argparse.Namespace) -> str:
    """The database ``roster migrate`` works on (it may create the embedded data directory)."""
    try:
        return data_paths.database_url(data=args.data, url=args.database_url)
    except data_paths.DataError as error:
        raise CommandFailed("data", str(error)) from error


def _admin(args: argparse.Namespace) -> Admin:
    """Where an administration command works (see the module's docstring), checked first."""
    explicit_database = bool(args.data or args.database_url)
    base = args.admin_url or (None if explicit_database else os.environ.get(URL_ENV))
    if base:
        token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            raise CommandFailed(
                "usage",
                f"{base} needs the admin token: pass --admin-token TOKEN or set {ADMIN_TOKEN_ENV}",
            )
        return AdminApi(base, token)
    url = args.database_url or (None if args.data else os.environ.get(data_paths.DATABASE_ENV))
    if url:
        where = data_paths.describe_url(url)
        return DatabaseAdmin(url, migrate_hint=f"roster migrate --database-url {where}")
    data = data_paths.data_dir(args.data)
    hint = f"roster migrate --data {data}"
    if not (data / data_paths.DATABASE_FILE).is_file():
        # Not made here: a mistyped --data must not become a new, empty store.
        raise CommandFailed(
            "data",
            f"no Roster database in {data}: start `roster dev --data {data}` (it makes one) "
            f"or run `{hint}`",
        )
    return DatabaseAdmin(data_paths.sqlite_url(data), migrate_hint=hint)


def _tenant_command(args: argparse.Namespace) -> Coroutine[Any, Any, Outcome]:
    action: str = args.tenant_command
    if action == "advise":
        return _advise(args)
    admin = _admin(args)
    if action == "create":
        return tenant_commands.create(
            admin, args.slug, ProvisioningMode(args.mode), args.display_name
        )
    if action == "list":
        return tenant_commands.list_all(admin)
    if action == "show":
        return tenant_commands.show(admin, args.slug)
    if action == "set-mode":
        return tenant_commands.set_mode(admin, args.slug, ProvisioningMode(args.mode))
    if args.token_command == "create":  # noqa: S105 - a sub-command name
        return tenant_commands.token_create(admin, args.slug, args.label)
    return tenant_commands.token_revoke(admin, args.slug, args.token_id)


def _reconcile_command(args: argparse.Namespace) -> Coroutine[Any, Any, Outcome]:
    admin = _admin(args)
    embedded = isinstance(admin, DatabaseAdmin) and not (
        args.database_url or os.environ.get(data_paths.DATABASE_ENV)
    )
    key = reconcile_commands.directory_key(data_paths.data_dir(args.data) if embedded else None)
    if args.command == "directory":
        return reconcile_commands.connect(admin, args.tenant, args.kind, args.url, args.token, key)
    if args.runs:
        return reconcile_commands.runs(admin, args.tenant, args.limit)
    return reconcile_commands.reconcile(
        admin,
        args.tenant,
        key,
        dry_run=args.dry_run,
        approve=args.approve,
        reject=args.reject,
        by=args.by,
    )


def _advise(args: argparse.Namespace) -> Coroutine[Any, Any, Outcome]:
    from reconciler.advice import Requirements

    try:
        requirements = Requirements(
            idp=args.idp,
            soc2=args.soc2,
            immediate_deprovisioning=args.immediate_deprovisioning,
            scim_available=False if args.no_scim else None,
            directory_api=args.directory_api,
            users=args.users,
        )
    except ValidationError as error:
        raise CommandFailed("invalid", error.errors()[0]["msg"]) from error
    admin = _admin(args) if args.tenant else None
    return reconcile_commands.advice(requirements, url=admin, tenant=args.tenant)


def _metadata(args: argparse.Namespace) -> str | None:
    if getattr(args, "metadata", None) is None:
        return None
    return connection_commands.read_metadata(args.metadata)


async def _connection_command(
    args: argparse.Namespace, admin: Admin, metadata: str | None
) -> Outcome:
    base = admin.base if isinstance(admin, AdminApi) else None
    return await connection_commands.run(args, admin, metadata, base=base)


def _dev(args: argparse.Namespace) -> int:
    from roster_cli.embedded import DevError, run

    try:
        return run(args.host, args.port, data_paths.data_dir(args.data))
    except (DevError, data_paths.DataError) as error:
        raise CommandFailed("dev", str(error)) from error


def _serve(service: str) -> int:
    entry: Callable[[], None] = importlib.import_module(SERVICES[service]).main
    try:
        entry()
    except ValidationError as error:
        problems = "; ".join(
            f"ROSTER_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise CommandFailed("settings", f"{service}: invalid settings: {problems}") from error
    except ValueError as error:
        raise CommandFailed("settings", f"{service}: {error}") from error
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from user_store.db import create_engine, migrate

    url = _url(args)

    async def work() -> None:
        engine = create_engine(url)
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(work())
    except (SQLAlchemyError, CommandError, OSError) as error:
        raise CommandFailed("database", f"database error: {error}") from error
    print(f"Database {data_paths.describe_url(url)} is at the newest schema.")
    return 0
