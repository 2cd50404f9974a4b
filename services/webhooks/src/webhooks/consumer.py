"""Consuming ``roster.lifecycle``: each batch is handed to the user-store (events stored once by
id, one delivery per interested endpoint) before the bus commits its offset, so a crash
redelivers the batch and nothing is recorded twice. The dispatcher is woken right after.

Only the envelope is read here (id, tenant, type, time) and the ordering key (the user an event
is about); the body delivered is the event exactly as the user-store published it, so an event
type this service does not know yet is still delivered, in order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from roster_shared.bus.base import Message

from webhooks.store import WebhookStore

log = logging.getLogger(__name__)


def ordering_key(event: dict[str, Any]) -> str:
    """Whom the event is about: a user's events (and memberships) keep their order."""
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    assert isinstance(data, dict)
    for owner, field in (("user", "id"), ("group", "id")):
        inner = data.get(owner)
        if isinstance(inner, dict) and isinstance(inner.get(field), str):
            return f"{owner}:{inner[field]}"
    if isinstance(data.get("user_id"), str):
        return f"user:{data['user_id']}"
    return f"tenant:{event.get('tenant_id')}"


def to_record(message: Message) -> dict[str, Any] | None:
    """What the user-store stores of one message; None for one that is no event."""
    try:
        text = (message.value or b"").decode()
        event = json.loads(text)
        record = {
            "event_id": str(event["event_id"]),
            "tenant_id": str(event["tenant_id"]),
            "type": str(event["type"]),
            "occurred_at": str(event["occurred_at"]),
            "ordering_key": ordering_key(event),
            "payload": text,
        }
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError) as error:
        log.error(
            "skipped %s[%d]@%d: not a lifecycle event (%s)",
            message.topic,
            message.partition,
            message.offset,
            error,
        )
        return None
    return record


def batch_handler(
    store: WebhookStore, wake: Callable[[], None]
) -> Callable[[Sequence[Message]], Any]:
    """The handler the service subscribes to ``roster.lifecycle`` with."""

    async def handle(messages: Sequence[Message]) -> None:
        records = [r for r in (to_record(m) for m in messages) if r is not None]
        for start in range(0, len(records), 1000):
            await store.record_events(records[start : start + 1000])
        wake()

    return handle
