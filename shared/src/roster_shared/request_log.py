"""The provisioning request log: what scim-api and sso-login saw, for the console's health pages.

Each SCIM request and each sign-in (accepted or refused) becomes one :class:`RequestRecord`:
tenant, what was asked, the status, and for a failure the reason and the reference id its error
carried. Never a token, password, assertion or request body: a record says *that* something
failed and why in words, not what was sent.

Recording must not cost the request anything: :class:`Recorder` appends to a bounded in-memory
buffer and a background task sends the buffer to the user-store's internal API in batches
(``POST /internal/request-log``) about once a second. A full buffer drops the oldest records
and counts them; a user-store that does not answer loses that batch (counted, logged) — the log
is an aid for people, never a source of truth, and a SCIM request must never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Literal

import aiohttp
from aiohttp import web
from pydantic import Field

from roster_shared.events.envelope import Frozen, utcnow
from roster_shared.ids import internal_url

log = logging.getLogger(__name__)

MAX_REASON = 300
MAX_BATCH = 500
PATH = "/internal/request-log"


class RequestRecord(Frozen):
    """One request as the log keeps it (no secrets, no bodies)."""

    tenant: str = Field(min_length=1, max_length=64, description="Slug or id, as in the URL.")
    source: Literal["scim", "sso"]
    at: datetime
    method: str = Field(max_length=8)
    route: str = Field(max_length=128, description="What was asked, without ids or values.")
    status: int = Field(ge=100, le=599)
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    reference: str | None = Field(default=None, max_length=32)
    token_id: str | None = Field(default=None, max_length=32, description="SCIM token id only.")

    @property
    def failed(self) -> bool:
        """What counts against the failure share (Entra ID quarantines above ~40 %)."""
        return self.status >= 400


class RequestBatch(Frozen):
    """What the recorder sends."""

    records: tuple[RequestRecord, ...] = Field(max_length=MAX_BATCH)


def clip(text: str | None) -> str | None:
    """A reason cut to what a record holds."""
    if text is None:
        return None
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


class Recorder:
    """Buffers records and sends them to the user-store in batches, off the request path."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        interval: float = 1.0,
        capacity: int = 10_000,
    ) -> None:
        self._url = internal_url(base_url.rstrip("/"), PATH)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._interval = interval
        self._buffer: deque[RequestRecord] = deque(maxlen=capacity)
        self._wake = asyncio.Event()
        self.dropped = 0
        self.sent = 0

    def record(
        self,
        *,
        tenant: str,
        source: Literal["scim", "sso"],
        method: str,
        route: str,
        status: int,
        reason: str | None = None,
        reference: str | None = None,
        token_id: str | None = None,
    ) -> None:
        """Keep one record for the next batch (never blocks, never raises on a full buffer)."""
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(
            RequestRecord(
                tenant=tenant[:64],
                source=source,
                at=utcnow(),
                method=method[:8],
                route=route[:128],
                status=status,
                reason=clip(reason),
                reference=reference,
                token_id=token_id,
            )
        )

    async def flush(self, http: aiohttp.ClientSession) -> None:
        """Send what is buffered now, in batches."""
        while self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(MAX_BATCH, len(self._buffer)))]
            body = RequestBatch(records=tuple(batch)).model_dump_json()
            try:
                async with http.post(
                    self._url,
                    data=body,
                    headers={**self._headers, "Content-Type": "application/json"},
                ) as response:
                    if response.status >= 300:
                        raise aiohttp.ClientResponseError(
                            response.request_info, (), status=response.status
                        )
                self.sent += len(batch)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.dropped += len(batch)
                log.warning(
                    "request log batch lost", extra={"records": len(batch), "error": str(exc)}
                )
                return

    async def _run(self, http: aiohttp.ClientSession) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush(http)

    def context(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """A cleanup context: the sender runs while the application serves, and what is left
        is flushed once more at the end."""

        async def context(_app: web.Application) -> AsyncIterator[None]:
            timeout = aiohttp.ClientTimeout(total=5)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                task = asyncio.create_task(self._run(http))
                try:
                    yield
                finally:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    await self.flush(http)

        return context
