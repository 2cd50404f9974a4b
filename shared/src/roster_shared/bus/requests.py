"""Request/reply over the bus: send an ingestion event, wait for its reply on ``roster.replies``.

Every instance of a requesting service reads all of ``roster.replies`` without a group and picks
out the replies to its own pending requests by key (the request id). Replies to other instances'
requests are ignored, which is cheap: a reply is small and the topic is short-lived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from roster_shared.bus.base import Bus, BusError, Message, Record, Subscription
from roster_shared.events.replies import REPLY_ADAPTER, Reply
from roster_shared.topics import REPLIES

log = logging.getLogger(__name__)


class RequestTimeout(BusError):
    """No reply arrived in time; the event may still be applied later (it is idempotent)."""


class Requester:
    """Sends records and awaits the replies keyed by their request id."""

    def __init__(
        self,
        bus: Bus,
        *,
        topic: str = REPLIES,
        on_death: Callable[[str], None] | None = None,
    ) -> None:
        self._bus = bus
        self._topic = topic
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._subscription: Subscription | None = None
        self._on_death = on_death

    async def start(self) -> None:
        """Begin reading replies; returns once nothing sent afterwards can be missed."""
        self._subscription = self._bus.listen(self._topic, self._on_replies)
        self._subscription.on_death = self._on_death
        await self._subscription.start()

    @property
    def alive(self) -> bool:
        """True while replies are being read (readiness: no reply could arrive otherwise)."""
        return self._subscription is not None and self._subscription.alive

    @property
    def in_flight(self) -> int:
        """Requests waiting for their reply now."""
        return len(self._pending)

    async def stop(self) -> None:
        """Stop reading; pending requests fail with ``RequestTimeout``."""
        if self._subscription is not None:
            await self._subscription.stop()
            self._subscription = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RequestTimeout("requester stopped"))
        self._pending.clear()

    async def request(
        self,
        record: Record,
        request_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - part of the API
    ) -> Reply:
        """Send ``record`` and return the reply whose key is ``request_id``; sending and waiting
        take at most ``timeout`` seconds together."""
        if self._subscription is None:
            raise BusError("requester not started")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            # One bound for the send and the wait: a send slowed by the broker leaves less
            # time to wait, never more time in all.
            async with asyncio.timeout(timeout):
                await self._bus.send(record)
                return await future
        except TimeoutError as exc:
            raise RequestTimeout(f"no reply to {request_id} within {timeout:g}s") from exc
        finally:
            self._pending.pop(request_id, None)

    async def send(
        self,
        record: Record,
        *,
        timeout: float,  # noqa: ASYNC109 - part of the API
    ) -> None:
        """Send ``record`` without waiting for a reply (a reply that comes is dropped); returns
        once the bus has taken it (on Kafka: acknowledged by every in-sync replica)."""
        try:
            async with asyncio.timeout(timeout):
                await self._bus.send(record)
        except TimeoutError as exc:
            raise RequestTimeout(f"send not acknowledged within {timeout:g}s") from exc

    async def _on_replies(self, messages: Sequence[Message]) -> None:
        for message in messages:
            if message.key is None or message.value is None:
                continue
            future = self._pending.get(message.key)
            if future is None or future.done():
                continue
            try:
                future.set_result(REPLY_ADAPTER.validate_json(message.value))
            except ValidationError as exc:
                # Not a reply we can read: the waiter fails now instead of at its timeout, and
                # the replies after it in the batch are still delivered.
                log.error("unreadable reply to %s", message.key, exc_info=True)
                future.set_exception(BusError(f"unreadable reply: {exc.error_count()} errors"))
