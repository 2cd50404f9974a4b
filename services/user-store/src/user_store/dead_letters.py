"""What the user-store writes to ``roster.ingest.dlq``: the record it could not apply, and why.

A dead letter must itself never fail to be stored or published, whatever the poison held: its
value is ASCII JSON (``json.dumps`` escapes NUL, control characters and everything beyond
ASCII), the original key and value are kept as text when they are UTF-8 and as base64 when not,
and its own key is the original key only when that is printable and fits the outbox's column.

The value, for operators and ``roster dlq``::

    {"reason": "...", "kind": "invalid" | "undecodable_key" | "unknown_tenant" | "database"
                              | "conflict" | "error",
     "topic": "roster.ingest", "partition": 3, "offset": 1234,
     "key": "<tenant id>" | null, "key_base64": null | "...",
     "value": "<the event JSON>" | null, "value_base64": null | "...",
     "event_id": "<the event's id, when it had a usable one>" | null,
     "dead_lettered_at": "2026-12-04T15:00:00+00:00"}

``roster dlq replay`` re-publishes ``value`` (or the bytes of ``value_base64``) under ``key`` to
``roster.ingest``: the same event id, so an event that was applied after all changes nothing.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from roster_shared.bus.base import Message, Record
from roster_shared.events.codec import CONTENT_TYPE
from roster_shared.events.envelope import utcnow
from roster_shared.events.text import is_token

KEY_MAX = 256
"""The outbox's key column."""
REASON_MAX = 1000

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str, limit: int = REASON_MAX) -> str:
    """``text`` with control characters replaced and cut to ``limit`` characters."""
    cleaned = _UNPRINTABLE.sub("\ufffd", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "\u2026"


def raw_event_id(value: bytes | None) -> str | None:
    """The ``event_id`` of a record that did not decode as an event, if it has the id form."""
    try:
        data = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if is_token(event_id) else None


def _text_or_base64(raw: bytes | None) -> tuple[str | None, str | None]:
    if raw is None:
        return None, None
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(raw).decode("ascii")


def dead_letter(dlq_topic: str, message: Message, reason: str, kind: str) -> Record:
    """The dead-letter record of ``message`` (see the module's documentation)."""
    reason = printable(reason)
    key_text: str | None
    key_b64: str | None
    if message.undecodable_key:
        key_text, key_b64 = None, base64.b64encode(message.raw_key or b"").decode("ascii")
    else:
        key_text, key_b64 = message.key, None
    value_text, value_b64 = _text_or_base64(message.value)
    body: dict[str, Any] = {
        "reason": reason,
        "kind": kind,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": key_text,
        "key_base64": key_b64,
        "value": value_text,
        "value_base64": value_b64,
        "event_id": raw_event_id(message.value),
        "dead_lettered_at": utcnow().isoformat(),
    }
    own_key = key_text if key_text and len(key_text) <= KEY_MAX else ""
    if own_key and _UNPRINTABLE.search(own_key):
        own_key = ""
    return Record(
        topic=dlq_topic,
        key=own_key,
        value=json.dumps(body).encode("ascii"),
        headers=(
            CONTENT_TYPE,
            ("reason", printable(reason, 500).encode("utf-8")),
            ("kind", kind.encode("ascii")),
        ),
    )
