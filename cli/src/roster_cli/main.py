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
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from alembic.util import CommandError
from pydantic import ValidationError
from roster_shared.ids import is_id
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from sqlalchemy.exc import SQLAlchemyError
from user_store.errors import UserStoreError

from roster_cli import connections as connection_commands
from roster_cli import data as data_paths
from roster_cli import dlq as dlq_commands
from roster_cli import events as event_commands
from roster_cli import reader_role as reader_role_commands
from roster_cli import reconcile as reconcile_commands
from roster_cli import tenants as tenant_commands
from roster_cli import webhooks as webhook_commands
from roster_cli.api import AdminApi
from roster_cli.bus_events import DevEvents
from roster_cli.direct import DatabaseAdmin
from roster_cli.failures import CommandFailed
from roster_cli.parser import SERVICES, build_parser
from roster_cli.schema import SchemaBehind
from roster_cli.tenants import Admin, Outcome

URL_ENV = "ROSTER_URL"
ADMIN_TOKEN_ENV = "ROSTER_ADMIN_TOKEN"  # noqa: S105 - the variable's name
__all__ = ["SERVICES", "CommandFailed", "build_parser", "main"]


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
        if args.command == "events" and args.events_command == "tail":
            return _events_tail(args)
        if args.command == "connection":
            metadata = _metadata(args)
            outcome = _run(_connection_command(args, _admin(args), metadata))
        elif args.command == "events":
            outcome = _run(_events_command(args))
        elif args.command == "webhook":
            outcome = _run(webhook_commands.run(args, webhook_commands.admin_api(args)))
        elif args.command in ("directory", "reconcile"):
            outcome = _run(_reconcile_command(args))
        elif args.command == "dlq":
            outcome = _run(dlq_commands.run(args))
        elif args.command == "db":
            outcome = _run(reader_role_commands.run(args))
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


def _kafka(args: argparse.Namespace) -> tuple[str | None, Topics]:
    """Kafka's address (None: the events are on a running `roster dev`'s bus) and topics."""
    kafka = args.kafka or os.environ.get("ROSTER_KAFKA_BOOTSTRAP")
    prefix = args.topic_prefix
    return kafka, Topics(
        prefix if prefix is not None else os.environ.get("ROSTER_TOPIC_PREFIX", "")
    )


def _dev_events(args: argparse.Namespace) -> DevEvents:
    api = webhook_commands.admin_api(args)
    return DevEvents(api.base, api.token)


async def _tenant_id(args: argparse.Namespace) -> str | None:
    ref: str | None = args.tenant
    if ref is None or is_id(ref):
        return ref
    tenant, _ = await tenant_commands.admin_of(_admin(args)).show(ref)
    return tenant.id


async def _events_command(args: argparse.Namespace) -> Outcome:
    kafka, topics = _kafka(args)
    if kafka is None:
        dev = _dev_events(args)
        if args.events_command == "show":
            return await dev.show(args.event_id)
        event_commands.parse_start(args.start)  # the same check as on Kafka
        return await dev.replay(args.group, args.start)
    tenant_id = await _tenant_id(args)
    if args.events_command == "show":
        return await event_commands.show(kafka, topics.lifecycle, args.event_id, tenant_id)
    start = event_commands.parse_start(args.start)
    return await event_commands.replay(kafka, topics.lifecycle, args.group, start, tenant_id)


def _events_tail(args: argparse.Namespace) -> int:
    kafka, topics = _kafka(args)
    start = event_commands.parse_start(args.start) if args.start else event_commands.Start()

    async def work() -> Outcome:
        tenant_id = await _tenant_id(args)
        assert tenant_id is not None  # --tenant is required
        if kafka is None:
            shown = await _dev_events(args).tail(
                tenant_id,
                start=start,
                as_json=args.json,
                limit=args.limit,
                follow=not args.no_follow,
            )
            return Outcome({"shown": shown}, "")
        shown = await event_commands.tail(
            kafka,
            topics.lifecycle,
            tenant_id,
            start=start,
            as_json=args.json,
            limit=args.limit,
            follow=not args.no_follow,
        )
        return Outcome({"shown": shown}, "")

    with contextlib.suppress(KeyboardInterrupt):
        _run(work())
    return 0


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
