"""``roster events`` on ``roster dev``: the in-process bus lives inside the dev process, so that
process serves its ``roster.lifecycle`` log (admin token) under ``/dev/events``, and the CLI asks
it over HTTP (:class:`DevEvents`). Kafka installs are read directly (:mod:`roster_cli.events`).

- ``GET /dev/events/lifecycle?tenant=ID&offset=N&limit=M``: the tenant's events from offset N of
  its partition (N absent: from the end), with ``next``, the offset to ask from next time;
  ``&since=TIME`` starts at the first record at or after that time instead;
- ``GET /dev/events/lifecycle/{event_id}``: one event;
- ``POST /dev/events/groups/{group}/position`` ``{"from": TIME|OFFSET}``: move a consumer group.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from roster_shared.bus.memory import MemoryBus
from roster_shared.topics import Topics

from roster_cli.events import Start, describe
from roster_cli.failures import CommandFailed
from roster_cli.tenants import Outcome

BUS = web.AppKey("dev_events_bus", MemoryBus)
TOPICS = web.AppKey("dev_events_topics", Topics)
TOKEN = web.AppKey("dev_events_token", str)


def add_routes(app: web.Application, bus: MemoryBus, topics: Topics, admin_token: str) -> None:
    """Serve the dev bus's lifecycle log on ``app`` (the composed root of ``roster dev``)."""
    app[BUS], app[TOPICS], app[TOKEN] = bus, topics, admin_token
    app.router.add_get("/dev/events/lifecycle", _tail)
    app.router.add_get("/dev/events/lifecycle/{event_id}", _show)
    app.router.add_post("/dev/events/groups/{group}/position", _move)


def _authorise(request: web.Request) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), request.app[TOKEN].encode()
    ):
        raise web.HTTPUnauthorized(
            text='{"error": "unauthorized"}', content_type="application/json"
        )


def _bad(detail: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": "invalid", "detail": detail}), content_type="application/json"
    )


def _when(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _bad("a time must be ISO 8601 with its zone") from exc
    if moment.tzinfo is None:
        raise _bad("a time must be ISO 8601 with its zone")
    return moment


async def _tail(request: web.Request) -> web.Response:
    _authorise(request)
    bus, topic = request.app[BUS], request.app[TOPICS].lifecycle
    tenant = request.query.get("tenant", "")
    if not tenant:
        raise _bad("tenant is required")
    entries = bus.partitions(topic)[bus.partition_of(topic, tenant)]
    try:
        limit = min(max(int(request.query.get("limit", "500")), 0), 5000)
        offset = int(request.query["offset"]) if "offset" in request.query else len(entries)
    except ValueError as exc:
        raise _bad("offset and limit are numbers") from exc
    if "since" in request.query:
        since_ms = int(_when(request.query["since"]).timestamp() * 1000)
        offset = next((m.offset for m in entries if m.timestamp_ms >= since_ms), len(entries))
    found: list[dict[str, Any]] = []
    position = max(0, offset)
    for message in entries[position:]:
        if len(found) >= limit:
            break
        position = message.offset + 1
        if message.key == tenant and message.value is not None:
            event = json.loads(message.value)
            found.append({"partition": message.partition, "offset": message.offset, "event": event})
    return web.json_response({"events": found, "next": position})


async def _show(request: web.Request) -> web.Response:
    _authorise(request)
    event_id = request.match_info["event_id"]
    for entries in request.app[BUS].partitions(request.app[TOPICS].lifecycle):
        for message in entries:
            if message.value is not None and event_id.encode() in message.value:
                event = json.loads(message.value)
                if event.get("event_id") == event_id:
                    where = {"partition": message.partition, "offset": message.offset}
                    return web.json_response({**where, "event": event})
    raise web.HTTPNotFound(
        text=json.dumps({"error": "not_found", "detail": f"no event {event_id} on the dev bus"}),
        content_type="application/json",
    )


async def _move(request: web.Request) -> web.Response:
    _authorise(request)
    bus, topic = request.app[BUS], request.app[TOPICS].lifecycle
    group = request.match_info["group"]
    body = await request.json()
    start = str(body.get("from", ""))
    before = bus.committed(group, topic)
    targets: dict[int, int] = {}
    for partition, entries in enumerate(bus.partitions(topic)):
        if start.isdigit():
            targets[partition] = min(int(start), len(entries))
        else:
            since_ms = int(_when(start).timestamp() * 1000)
            targets[partition] = next(
                (m.offset for m in entries if m.timestamp_ms >= since_ms), len(entries)
            )
    await bus.move_group(group, topic, targets)
    moved = [{"partition": p, "before": before.get(p), "after": o} for p, o in targets.items()]
    return web.json_response({"group": group, "topic": topic, "partitions": moved})


class DevEvents:
    """The CLI's side: ``roster events`` against a running ``roster dev``."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}

    async def _get(self, http: aiohttp.ClientSession, path: str, **params: Any) -> Any:
        try:
            async with http.get(self.base + path, params=params, headers=self.headers) as r:
                data = await r.json(content_type=None)
                if r.status >= 400:
                    raise CommandFailed(
                        data.get("error", "http"), data.get("detail", str(r.status))
                    )
                return data
        except aiohttp.ClientError as exc:
            raise CommandFailed("unreachable", f"cannot reach {self.base}: {exc}") from exc

    async def tail(
        self, tenant_id: str, *, start: Start, as_json: bool, limit: int | None, follow: bool
    ) -> int:
        """Print the tenant's events, polling the dev process; returns how many."""
        import asyncio

        shown = 0
        params: dict[str, Any] = {"tenant": tenant_id}
        if start.offset is not None:
            params["offset"] = start.offset
        elif start.time is not None:
            params["since"] = start.time.isoformat()
        async with aiohttp.ClientSession() as http:
            while True:
                data = await self._get(http, "/dev/events/lifecycle", **params)
                for item in data["events"]:
                    event = item["event"]
                    print(json.dumps(event) if as_json else describe(event), flush=True)
                    shown += 1
                    if limit is not None and shown >= limit:
                        return shown
                params = {"tenant": tenant_id, "offset": data["next"]}
                if not data["events"]:
                    if not follow:
                        return shown
                    await asyncio.sleep(0.3)

    async def show(self, event_id: str) -> Outcome:
        """One event."""
        async with aiohttp.ClientSession() as http:
            found = await self._get(http, f"/dev/events/lifecycle/{event_id}")
        text = f"{describe(found['event'])}\n  at partition {found['partition']}@{found['offset']}"
        return Outcome(found, text + "\n" + json.dumps(found["event"], indent=2))

    async def replay(self, group: str, start: str) -> Outcome:
        """Move a consumer group of the dev bus."""
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.base}/dev/events/groups/{group}/position",
                json={"from": start},
                headers=self.headers,
            ) as r,
        ):
            data = await r.json(content_type=None)
            if r.status >= 400:
                raise CommandFailed(data.get("error", "http"), data.get("detail", str(r.status)))
        lines = [f"Consumer group {group} on the dev bus's {data['topic']}"]
        lines += [
            f"  partition {m['partition']}: {m['before']} -> {m['after']}"
            for m in data["partitions"]
        ]
        return Outcome(data, "\n".join(lines))
