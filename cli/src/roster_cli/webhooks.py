"""``roster webhook add|list|rotate|test|replay|attempts|pause|resume``: a tenant's webhook
endpoints, through the webhooks service's admin API (``--url``: where it answers, e.g. a
``roster dev`` at http://127.0.0.1:8000; the admin token from ``--admin-token``,
``$ROSTER_ADMIN_TOKEN`` or the embedded data directory)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography.fernet import Fernet

from roster_cli import data as data_paths
from roster_cli.api import AdminApi
from roster_cli.failures import CommandFailed
from roster_cli.tenants import Outcome

KEY_ENV = "ROSTER_WEBHOOK_KEY"
KEY_FILE = "webhook-key"
DEV_URL = "http://127.0.0.1:8000"


def webhook_key(data: Path) -> str:
    """``$ROSTER_WEBHOOK_KEY``, else the key kept in ``DIR/webhook-key`` (made on first use,
    mode 0600): the signing secrets in the embedded database stay readable across restarts."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return from_env
    path = data / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    key = Fernet.generate_key().decode()
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    return key


def add_parser(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    """The ``webhook`` sub-commands."""
    webhook = commands.add_parser(
        "webhook",
        help="a tenant's webhook endpoints (signed, ordered, retried deliveries)",
        description="Register and manage the endpoints a tenant's lifecycle events are POSTed "
        "to (Standard Webhooks signatures), through the webhooks service's admin API.",
    )
    actions = webhook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add", parents=parents, help="register an endpoint (secret shown once)"
    )
    add.add_argument("tenant")
    add.add_argument("url", help="https URL of the receiver")
    add.add_argument("--description")
    add.add_argument(
        "--event-type",
        action="append",
        dest="event_types",
        metavar="TYPE",
        help="only these event types (repeat; default: all)",
    )
    listing = actions.add_parser("list", parents=parents, help="the tenant's endpoints")
    listing.add_argument("tenant")
    for name, text in (
        ("rotate", "a new signing secret; the previous one keeps signing for a while"),
        ("test", "send a webhook.test event"),
        ("resume", "send again after a pause, starting with what waited"),
        ("delete", "remove the endpoint; what was pending for it is dropped"),
    ):
        action = actions.add_parser(name, parents=parents, help=text)
        action.add_argument("tenant")
        action.add_argument("endpoint")
    pause = actions.add_parser("pause", parents=parents, help="stop sending (deliveries wait)")
    pause.add_argument("tenant")
    pause.add_argument("endpoint")
    pause.add_argument("--reason", default="paused by an admin")
    replay = actions.add_parser("replay", parents=parents, help="send a time range again")
    replay.add_argument("tenant")
    replay.add_argument("endpoint")
    replay.add_argument("--from", dest="since", required=True, metavar="TIME")
    replay.add_argument("--to", dest="until", metavar="TIME", help="default: now")
    attempts = actions.add_parser("attempts", parents=parents, help="the latest attempts")
    attempts.add_argument("tenant")
    attempts.add_argument("endpoint")
    attempts.add_argument("--limit", type=int, default=20)


def admin_api(args: argparse.Namespace) -> AdminApi:
    """Where the webhooks admin API answers, and its token."""
    base = args.admin_url or os.environ.get("ROSTER_URL") or DEV_URL
    token = args.admin_token or os.environ.get("ROSTER_ADMIN_TOKEN")
    if not token:
        path = data_paths.data_dir(args.data) / data_paths.ADMIN_TOKEN_FILE
        if path.is_file():
            token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise CommandFailed(
            "usage", f"{base} needs the admin token: pass --admin-token or set ROSTER_ADMIN_TOKEN"
        )
    return AdminApi(base, token)


def _path(tenant: str, *rest: str) -> str:
    segments = ["webhooks", "admin", "tenants", tenant, "endpoints", *rest]
    return "/" + "/".join(quote(s, safe="") for s in segments)


def _endpoint_line(e: dict[str, Any]) -> str:
    state = e["status"] + (f" ({e['paused_reason']})" if e.get("paused_reason") else "")
    return f"{e['id']}  {e['url']}  {state}  pending {e.get('pending', 0)}  secrets {e['secrets']}"


async def run(args: argparse.Namespace, api: AdminApi) -> Outcome:
    """One ``roster webhook`` action."""
    action: str = args.webhook_command
    if action == "add":
        body = {"url": args.url, "description": args.description, "event_types": args.event_types}
        made = await api.request("POST", _path(args.tenant), body)
        endpoint = made["endpoint"]
        text = (
            f"Endpoint {endpoint['id']} -> {endpoint['url']}\n"
            f"  signing secret (shown once; receivers verify with it): {made['secret']}"
        )
        return Outcome(made, text)
    if action == "list":
        found = await api.request("GET", _path(args.tenant))
        lines = [_endpoint_line(e) for e in found["endpoints"]] or ["no endpoints"]
        return Outcome(found, "\n".join(lines))
    if action == "rotate":
        made = await api.request("POST", _path(args.tenant, args.endpoint, "rotate"))
        text = (
            f"new signing secret: {made['secret']}\n"
            f"  the previous one signs too until {made['previous_expires_at']}"
        )
        return Outcome(made, text)
    if action == "delete":
        made = await api.request("DELETE", _path(args.tenant, args.endpoint))
        text = f"endpoint {made['deleted']} deleted ({made['dropped_deliveries']} pending dropped)"
        return Outcome(made, text)
    if action == "test":
        made = await api.request("POST", _path(args.tenant, args.endpoint, "test"))
        return Outcome(made, f"test event {made['event_id']} queued")
    if action in ("pause", "resume"):
        status_body: dict[str, Any] | None = {"reason": args.reason} if action == "pause" else None
        found = await api.request("POST", _path(args.tenant, args.endpoint, action), status_body)
        return Outcome(found, _endpoint_line(found))
    if action == "replay":
        body = {"since": args.since, **({"until": args.until} if args.until else {})}
        made = await api.request("POST", _path(args.tenant, args.endpoint, "replay"), body)
        return Outcome(made, f"{made['replayed']} events queued again, in their order")
    found = await api.request(
        "GET", _path(args.tenant, args.endpoint, "attempts") + f"?limit={int(args.limit)}"
    )
    lines = [
        f"{a['attempted_at']}  {a['type']:<18} {a['status_code'] or '-':>3}  {a['latency_ms']} ms"
        f"  {a['error'] or 'ok'}  {a['event_id']}"
        for a in found["attempts"]
    ]
    return Outcome(found, "\n".join(lines) or "no attempts yet")
