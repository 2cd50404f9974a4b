"""A webhook receiver in a process of its own, verifying every message with the
``standardwebhooks`` package (as an app developer would, no code of Roster's).

Each path ``/<behaviour>/<name>`` is one receiver:

- ``ok``: 204 for a message that verifies (401 otherwise);
- ``flaky``: 500 for the first ``?fail=N`` messages, then as ``ok``;
- ``throttle``: 429 with ``Retry-After: 2`` for the first message, then as ``ok``;
- ``down``: 503 until ``POST /_heal/<name>``, then as ``ok``;
- ``redirect``: 307 to the URL in ``?to=``;
- ``big``: 200 with a 200 KiB body.

Control: ``PUT /_secrets/<name>`` (a JSON list: the secrets it verifies with),
``GET /_log/<name>`` (every request: id, type, user id, version, verified, status, time).
It prints ``listening <port>`` once it serves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

SECRETS: dict[str, list[str]] = {}
LOG: dict[str, list[dict[str, Any]]] = {}
COUNTS: dict[str, int] = {}
HEALED: set[str] = set()
INFLIGHT = {"now": 0, "max": 0}


def _verify(name: str, body: bytes, headers: Any) -> str | None:
    for secret in SECRETS.get(name, []):
        try:
            Webhook(secret).verify(body, dict(headers))
        except WebhookVerificationError:
            continue
        return secret
    return None


async def hook(request: web.Request) -> web.Response:
    behaviour, name = request.match_info["behaviour"], request.match_info["name"]
    body = await request.read()
    COUNTS[name] = COUNTS.get(name, 0) + 1
    count = COUNTS[name]
    INFLIGHT["now"] += 1
    INFLIGHT["max"] = max(INFLIGHT["max"], INFLIGHT["now"])
    try:
        await asyncio.sleep(0.02)  # a receiver takes a moment: lets concurrency show
        status, extra = _answer(behaviour, name, count, request)
    finally:
        INFLIGHT["now"] -= 1
    verified = _verify(name, body, request.headers)
    if verified is None and status < 300:
        status = 401
    try:
        event = json.loads(body)
    except ValueError:
        event = {}
    data = event.get("data") or {}
    user = data.get("user") or {}
    LOG.setdefault(name, []).append(
        {
            "webhook_id": request.headers.get("webhook-id"),
            "signatures": len(request.headers.get("webhook-signature", "").split()),
            "event_id": event.get("event_id"),
            "type": event.get("type"),
            "user_id": user.get("id"),
            "user_name": user.get("user_name"),
            "version": user.get("version"),
            "verified": verified is not None,
            "verified_with": SECRETS.get(name, []).index(verified) if verified else None,
            "status": status,
            "at": time.time(),
        }
    )
    if behaviour == "big" and status == 200:
        return web.Response(status=200, body=b"x" * 200 * 1024)
    return web.Response(status=status, headers=extra)


def _answer(
    behaviour: str, name: str, count: int, request: web.Request
) -> tuple[int, dict[str, str]]:
    if behaviour == "flaky" and count <= int(request.query.get("fail", "3")):
        return 500, {}
    if behaviour == "throttle" and count == 1:
        return 429, {"Retry-After": "2"}
    if behaviour == "down" and name not in HEALED:
        return 503, {}
    if behaviour == "redirect":
        return 307, {"Location": request.query["to"]}
    if behaviour == "big":
        return 200, {}
    return 204, {}


async def put_secrets(request: web.Request) -> web.Response:
    SECRETS[request.match_info["name"]] = list(await request.json())
    return web.Response(status=204)


async def get_log(request: web.Request) -> web.Response:
    return web.json_response(
        {"messages": LOG.get(request.match_info["name"], []), "max_inflight": INFLIGHT["max"]}
    )


async def heal(request: web.Request) -> web.Response:
    HEALED.add(request.match_info["name"])
    return web.Response(status=204)


async def main() -> None:
    app = web.Application()
    app.router.add_put("/_secrets/{name}", put_secrets)
    app.router.add_get("/_log/{name}", get_log)
    app.router.add_post("/_heal/{name}", heal)
    app.router.add_post("/{behaviour}/{name}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
