"""The operator's side of ``roster.ingest.dlq``: list, show, replay and drop dead letters.

A dead letter is named by where it sits in the DLQ topic, ``<partition>:<offset>``. Kafka cannot
delete one record from a topic, so what an operator decides is appended to the DLQ topic itself:
a *resolution* record (header ``resolves: <id>``, value ``{"resolves", "resolution", "at"}``).
Listing reads the topic from its beginning and shows the letters no resolution names; the topic's
retention (30 days) ages letters and resolutions out together.

* **replay** re-publishes the original record — its bytes unchanged, so the same event id — to
  the topic it came from, and resolves the letter as ``replayed``: after a fix the event is
  applied; if it had been applied after all, the user-store's ``processed_events`` make the
  replay change nothing. If it fails again it becomes a new letter.
* **drop** resolves the letter as ``dropped``: it stays in the log, out of the list.

Used by the user-store's admin API (``/admin/dlq``: the embedded bus is only reachable there)
and by ``roster dlq --kafka`` directly on a broker.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from roster_shared.bus.base import Bus, Message, Record
from roster_shared.events.codec import CONTENT_TYPE
from roster_shared.events.envelope import utcnow
from roster_shared.topics import Topics

from user_store.errors import Invalid, NotFound

LETTER_ID = re.compile(r"(\d{1,9}):(\d{1,19})")


@dataclass(frozen=True)
class Letter:
    """One dead letter: where it is in the DLQ topic and what the consumer wrote."""

    id: str
    body: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The listing line: id, reason, kind, origin, event id, when."""
        keys = ("reason", "kind", "topic", "partition", "offset", "event_id", "dead_lettered_at")
        return {"id": self.id, **{key: self.body.get(key) for key in keys}}

    def original(self) -> Record:
        """The record as it was first published, to publish again."""
        body = self.body
        if body.get("value_base64") is not None:
            value = base64.b64decode(body["value_base64"])
        elif body.get("value") is not None:
            value = str(body["value"]).encode("utf-8")
        else:
            raise Invalid("the letter holds no value to replay")
        key = body.get("key")
        if not isinstance(key, str) or not key:
            # The key was missing or not UTF-8: the tenant id is what it must be.
            try:
                key = json.loads(value).get("tenant_id")
            except (ValueError, AttributeError):
                key = None
            if not isinstance(key, str) or not key:
                raise Invalid("the letter's key is unusable and its value names no tenant")
        return Record(topic=str(body["topic"]), key=key, value=value, headers=(CONTENT_TYPE,))


class DeadLetters:
    """The dead letters of one installation's ``roster.ingest.dlq``, on ``bus``."""

    def __init__(self, bus: Bus, topics: Topics) -> None:
        self._bus = bus
        self._topics = topics

    async def letters(self, *, include_resolved: bool = False) -> list[Letter]:
        """The letters in DLQ order (partition, offset), unresolved ones unless asked."""
        letters: list[Letter] = []
        resolved: set[str] = set()
        for message in await self._bus.read(self._topics.dlq):
            resolves = message.header("resolves")
            if resolves is not None:
                resolved.add(resolves.decode("ascii", errors="replace"))
                continue
            body = _body(message)
            if body is not None:
                letters.append(Letter(f"{message.partition}:{message.offset}", body))
        if include_resolved:
            return letters
        return [letter for letter in letters if letter.id not in resolved]

    async def show(self, letter_id: str) -> Letter:
        """One letter, resolved or not; 404 when there is none of that id."""
        if LETTER_ID.fullmatch(letter_id) is None:
            raise NotFound("a dead letter id is <partition>:<offset>")
        for letter in await self.letters(include_resolved=True):
            if letter.id == letter_id:
                return letter
        raise NotFound(f"no dead letter {letter_id}")

    async def replay(self, letter_id: str) -> Letter:
        """Publish the letter's original record again, then mark it replayed."""
        letter = await self._unresolved(letter_id)
        await self._bus.send(letter.original())
        await self._resolve(letter, "replayed")
        return letter

    async def drop(self, letter_id: str) -> Letter:
        """Mark the letter dropped (it leaves the list)."""
        letter = await self._unresolved(letter_id)
        await self._resolve(letter, "dropped")
        return letter

    async def _unresolved(self, letter_id: str) -> Letter:
        letter = await self.show(letter_id)
        if all(other.id != letter_id for other in await self.letters()):
            raise Invalid(f"dead letter {letter_id} was already replayed or dropped")
        return letter

    async def _resolve(self, letter: Letter, resolution: str) -> None:
        value = {"resolves": letter.id, "resolution": resolution, "at": utcnow().isoformat()}
        await self._bus.send(
            Record(
                topic=self._topics.dlq,
                key=str(letter.body.get("key") or ""),
                value=json.dumps(value).encode(),
                headers=(CONTENT_TYPE, ("resolves", letter.id.encode("ascii"))),
            )
        )


def _body(message: Message) -> dict[str, Any] | None:
    try:
        body = json.loads(message.value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) and "reason" in body else None


# -- the admin API (``/admin/dlq``, admin token): the only way to the embedded bus -----------

routes = web.RouteTableDef()
DEAD_LETTERS = web.AppKey("dead_letters", DeadLetters)


@routes.get("/admin/dlq")
async def list_letters(request: web.Request) -> web.Response:
    """The unresolved dead letters (``?all=true``: resolved ones too)."""
    include = request.query.get("all", "").lower() in ("1", "true", "yes")
    letters = await request.app[DEAD_LETTERS].letters(include_resolved=include)
    return web.json_response([letter.summary() for letter in letters])


@routes.get("/admin/dlq/{letter}")
async def show_letter(request: web.Request) -> web.Response:
    """One dead letter, whole."""
    letter = await request.app[DEAD_LETTERS].show(request.match_info["letter"])
    return web.json_response({"id": letter.id, **letter.body})


@routes.post("/admin/dlq/{letter}/replay")
async def replay_letter(request: web.Request) -> web.Response:
    """Publish the original record again (same event id) and mark the letter replayed."""
    letter = await request.app[DEAD_LETTERS].replay(request.match_info["letter"])
    return web.json_response({**letter.summary(), "resolution": "replayed"})


@routes.post("/admin/dlq/{letter}/drop")
async def drop_letter(request: web.Request) -> web.Response:
    """Mark the letter dropped."""
    letter = await request.app[DEAD_LETTERS].drop(request.match_info["letter"])
    return web.json_response({**letter.summary(), "resolution": "dropped"})
