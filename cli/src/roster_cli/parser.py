"""The ``roster`` command line: every sub-command, its options and their help."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from roster_shared.tenants import ProvisioningMode

from roster_cli import connections as connection_commands
from roster_cli import dlq as dlq_commands
from roster_cli import reader_role as reader_role_commands
from roster_cli import webhooks as webhook_commands

SERVICES = {
    "user-store": "user_store.__main__",
    "scim-api": "scim_api.__main__",
    "sso-login": "sso_login.__main__",
    "reconciler": "reconciler.__main__",
    "console": "console.__main__",
    "webhooks": "webhooks.__main__",
}
MODES = [mode.value for mode in ProvisioningMode]


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
        description="Apply the database migrations (Alembic) up to the newest schema. The one "
        "explicit way: no other command migrates (`roster dev` makes and migrates its own data "
        "directory; a user-store migrates on start unless ROSTER_MIGRATE_ON_START=false).",
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
    _add_events(commands)
    webhook_commands.add_parser(
        commands, [_database_options(api=True, url_flag=True), _json_option()]
    )
    dlq_commands.add_parser(commands, _json_option())
    reader_role_commands.add_parser(commands, _json_option())
    return parser


def _add_events(commands: Any) -> None:
    events = commands.add_parser(
        "events",
        help="look at roster.lifecycle; replay it for a consumer group",
        description="Follow a tenant's lifecycle events, find one by id, or set a consumer "
        "group back so its consumers read events again. Reads Kafka directly (--kafka), or "
        "asks a running `roster dev` for its in-process bus (--admin-url, admin token).",
    )
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    kafka = argparse.ArgumentParser(add_help=False)
    kafka.add_argument(
        "--kafka", metavar="HOST:PORT", help="Kafka bootstrap servers ($ROSTER_KAFKA_BOOTSTRAP)"
    )
    kafka.add_argument("--topic-prefix", help="the install's topic prefix ($ROSTER_TOPIC_PREFIX)")
    tenant_help = "tenant id, or slug (looked up with --admin-url/--data/--database-url)"
    parents = [kafka, _database_options(api=True, url_flag=False), _json_option()]
    tail = actions.add_parser(
        "tail", parents=parents, help="follow one tenant's events (from now on by default)"
    )
    tail.add_argument("--tenant", required=True, help=tenant_help)
    tail.add_argument("--from", dest="start", metavar="TIME|OFFSET", help="start there instead")
    tail.add_argument("--limit", type=int, help="stop after that many events")
    tail.add_argument(
        "--no-follow", action="store_true", help="stop at the end instead of waiting for more"
    )
    show = actions.add_parser("show", parents=parents, help="print one event by its id")
    show.add_argument("event_id")
    show.add_argument("--tenant", help=tenant_help + "; searches only its partition")
    replay = actions.add_parser(
        "replay",
        parents=parents,
        help="set a consumer group back to a time or offset (stop its consumers first)",
    )
    replay.add_argument("--group", required=True, help="the consumer group")
    replay.add_argument("--from", dest="start", required=True, metavar="TIME|OFFSET")
    replay.add_argument("--tenant", help=tenant_help + "; moves only its partition")


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
