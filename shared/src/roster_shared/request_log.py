"""The provisioning request log: what scim-api and sso-login saw, for the console's health pages.

Each SCIM request and each sign-in (accepted or refused) becomes one :class:`RequestRecord`:
tenant, what was asked, the status, and for a failure the reason and the reference id its error
carried. Never a token, password, assertion or request body: a record says *that* something
failed and why in words, not what was sent.

Recording must not cost the request anything: :class:`Recorder` keeps records in memory and a
background task sends them to the user-store's internal API in batches (``POST
/internal/request-log``) about once a second. A full buffer drops the oldest records and counts
them; a user-store that does not answer loses that batch (counted, logged) — the log is an aid
for people, never a source of truth, and a SCIM request must never wait on it.

Successes are kept as runs: the answers of one second that differ in nothing but their time
(same tenant, source, method, route, status and token) become one record with a ``count`` and
the time of the first (``since``) and last (``at``). A failure is always a record of its own,
with its reason and reference. An IdP's push of thousands of users was thousands of identical
``POST /Users 201`` rows, each inserted and soon pruned again: under SCIM load at concurrency 64
that cost the user-store and PostgreSQL about as much CPU as the reads themselves (issue 10).
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
    count: int = Field(
        default=1, ge=1, le=2**31 - 1, description="How many answers the record stands for."
    )
    since: datetime | None = Field(
        default=None, description="The first of them when ``count`` > 1 (``at`` is the last)."
    )

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


_RunKey = tuple[str, Literal["scim", "sso"], str, str, int, str | None]
"""What a run's answers share: tenant, source, method, route, status, token id."""


class _Run:
    """Successes of one :data:`_RunKey` since the last flush."""

    __slots__ = ("at", "count", "since")

    def __init__(self, at: datetime) -> None:
        self.count = 1
        self.since = self.at = at


class Recorder:
    """Buffers records and sends them to the user-store in batches, off the request path;
    successes as runs (module docstring)."""

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
        self._capacity = capacity
        self._buffer: deque[RequestRecord] = deque(maxlen=capacity)
        self._runs: dict[_RunKey, _Run] = {}
        self._wake = asyncio.Event()
        self.dropped = 0
        """Answers not recorded: a full buffer, a batch the user-store did not take."""
        self.sent = 0
        """Answers recorded (a run counts each of its answers)."""

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
        if status < 400 and reason is None and reference is None:
            # A success: one more of its run. No record is built per request.
            key = (tenant[:64], source, method[:8], route[:128], status, token_id)
            run = self._runs.get(key)
            now = utcnow()
            if run is not None:
                run.count += 1
                run.at = now
            elif len(self._runs) >= self._capacity:
                self.dropped += 1
            else:
                self._runs[key] = _Run(now)
            return
        self._keep(
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

    def _keep(self, record: RequestRecord) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += self._buffer[0].count
        self._buffer.append(record)

    def _close_runs(self) -> None:
        """The runs so far become records in the buffer; the next success starts a new run."""
        runs, self._runs = self._runs, {}
        for (tenant, source, method, route, status, token_id), run in runs.items():
            self._keep(
                RequestRecord(
                    tenant=tenant,
                    source=source,
                    at=run.at,
                    method=method,
                    route=route,
                    status=status,
                    token_id=token_id,
                    count=run.count,
                    since=run.since if run.count > 1 else None,
                )
            )

    async def flush(self, http: aiohttp.ClientSession) -> None:
        """Send what is buffered now, in batches."""
        self._close_runs()
        # The log lists records in the order it stores them, and the runs just closed went in
        # after the failures that came during them: send everything in time order.
        self._buffer = deque(
            sorted(self._buffer, key=lambda record: record.at), maxlen=self._buffer.maxlen
        )
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
                self.sent += sum(record.count for record in batch)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.dropped += sum(record.count for record in batch)
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
