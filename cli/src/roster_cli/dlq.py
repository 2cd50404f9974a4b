"""``roster dlq list|show|replay|drop``: the operator's view of ``roster.ingest.dlq``.

Two ways in, one behaviour (``user_store.dlq_admin``):

* ``--url URL --admin-token T`` (or ``$ROSTER_URL`` / ``$ROSTER_ADMIN_TOKEN``): through the
  user-store's admin API (``/admin/dlq``), on whatever bus it runs — the only way to the
  in-process bus of ``roster dev``;
* ``--kafka HOST:PORT [--topic-prefix P]``: straight to a Kafka cluster, for an operator with
  broker access and no running user-store.

A letter is named ``<partition>:<offset>`` (``roster dlq list`` shows them). ``replay`` publishes
the original record again to ``roster.ingest`` — same bytes, same event id, so an event applied
after all changes nothing — and ``drop`` sets a letter aside; both are recorded in the DLQ
topic, so every operator sees the same list.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from roster_shared.bus.kafka import KafkaBus
from roster_shared.topics import Topics
from user_store.dlq_admin import DeadLetters, Letter

from roster_cli.api import AdminApi
from roster_cli.failures import CommandFailed
from roster_cli.tenants import Outcome

URL_ENV = "ROSTER_URL"
ADMIN_TOKEN_ENV = "ROSTER_ADMIN_TOKEN"  # noqa: S105 - the variable's name
KAFKA_ENV = "ROSTER_KAFKA_BOOTSTRAP"


def add_parser(commands: Any, json_option: argparse.ArgumentParser) -> None:
    """Register ``roster dlq ...`` on the CLI's sub-command table."""
    where = argparse.ArgumentParser(add_help=False)
    target = where.add_mutually_exclusive_group()
    target.add_argument(
        "--url",
        dest="admin_url",
        metavar="URL",
        help="the user-store's admin API (or `roster dev`) at URL (default: $ROSTER_URL); "
        "needs --admin-token",
    )
    target.add_argument(
        "--kafka",
        metavar="HOST:PORT",
        help="read and write the DLQ topic on this Kafka cluster directly "
        "(default: $ROSTER_KAFKA_BOOTSTRAP when no URL is given)",
    )
    where.add_argument("--admin-token", metavar="TOKEN", help="default: $ROSTER_ADMIN_TOKEN")
    where.add_argument(
        "--topic-prefix",
        default=os.environ.get("ROSTER_TOPIC_PREFIX", ""),
        help="with --kafka: the installation's topic prefix (default: $ROSTER_TOPIC_PREFIX)",
    )
    parents = [where, json_option]
    dlq = commands.add_parser(
        "dlq",
        help="dead letters of roster.ingest: list, show, replay, drop",
        description="Records the user-store could not apply, with the reason. Fix the cause, "
        "then replay them (same event id: applying twice changes nothing) or drop them.",
    )
    actions = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=parents, help="the unresolved dead letters")
    listing.add_argument("--all", action="store_true", help="replayed and dropped ones too")
    for name, text in (
        ("show", "one dead letter, whole"),
        ("replay", "publish the original record again and mark the letter replayed"),
        ("drop", "set the letter aside (it leaves the list)"),
    ):
        action = actions.add_parser(name, parents=parents, help=text)
        action.add_argument("letter", metavar="ID", help="<partition>:<offset>, from list")


async def run(args: argparse.Namespace) -> Outcome:
    """Do ``args.dlq_command`` where the options say."""
    base = args.admin_url or (None if args.kafka else os.environ.get(URL_ENV))
    if base:
        token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
        if not token:
            raise CommandFailed("usage", f"{base} needs the admin token (--admin-token)")
        return await _through_api(AdminApi(base, token), args)
    bootstrap = args.kafka or os.environ.get(KAFKA_ENV)
    if not bootstrap:
        raise CommandFailed(
            "usage",
            "say where the dead letters are: --url URL (a running user-store or `roster dev`) "
            "or --kafka HOST:PORT",
        )
    bus = KafkaBus(bootstrap, client_id="roster-dlq")
    await bus.start()
    try:
        return await _direct(DeadLetters(bus, Topics(args.topic_prefix)), args)
    finally:
        await bus.stop()


async def _through_api(api: AdminApi, args: argparse.Namespace) -> Outcome:
    action = args.dlq_command
    if action == "list":
        listed = await api.request("GET", "/admin/dlq" + ("?all=true" if args.all else ""))
        return _listing(listed)
    path = f"/admin/dlq/{args.letter}"
    if action == "show":
        return _shown(await api.request("GET", path))
    done = await api.request("POST", f"{path}/{action}")
    return _resolved(done)


async def _direct(letters: DeadLetters, args: argparse.Namespace) -> Outcome:
    from user_store.errors import UserStoreError

    action = args.dlq_command
    try:
        if action == "list":
            found = await letters.letters(include_resolved=args.all)
            return _listing([letter.summary() for letter in found])
        if action == "show":
            letter = await letters.show(args.letter)
            return _shown({"id": letter.id, **letter.body})
        done: Letter = await getattr(letters, action)(args.letter)
    except UserStoreError as error:
        raise CommandFailed(error.code.value, error.detail) from error
    return _resolved(
        {**done.summary(), "resolution": "replayed" if action == "replay" else "dropped"}
    )


def _listing(letters: list[dict[str, Any]]) -> Outcome:
    if not letters:
        return Outcome({"letters": []}, "No dead letters.")
    lines = [
        f"{x['id']:>10}  {x.get('kind') or '-':<16} {x.get('dead_lettered_at') or '':<32} "
        f"{(x.get('reason') or '')[:100]}"
        for x in letters
    ]
    return Outcome({"letters": letters}, "\n".join(lines))


def _shown(letter: dict[str, Any]) -> Outcome:
    return Outcome(letter, json.dumps(letter, indent=2))


def _resolved(letter: dict[str, Any]) -> Outcome:
    return Outcome(letter, f"{letter['id']}: {letter['resolution']}")
