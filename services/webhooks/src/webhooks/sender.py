"""One delivery attempt over HTTP: POST the signed body, follow at most a few 307/308 redirects
(each target checked by the guard again), read at most ``max_response_bytes`` of the answer,
all within ``timeout`` seconds. The result says what happened in words an operator reads."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
from yarl import URL

from webhooks.ssrf import Guard, PinnedResolver, Refused

RESPONSE_KEPT = 1024
"""How much of a response body an attempt record keeps."""


@dataclass(frozen=True)
class Result:
    """What one attempt came to."""

    delivered: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    retry_after: float | None = None
    refused: bool = False
    """The destination itself is not allowed (SSRF guard): retrying will not help."""


class _TooLarge(Exception):
    pass


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Sender:
    """An HTTP client whose connections only reach addresses the guard allowed."""

    def __init__(
        self,
        guard: Guard,
        *,
        timeout: float = 10.0,
        max_response_bytes: int = 65_536,
        max_redirects: int = 3,
        concurrency: int = 64,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.max_redirects = max_redirects
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        connector = aiohttp.TCPConnector(
            resolver=PinnedResolver(self.guard), limit=self._concurrency, use_dns_cache=False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": "Roster-Webhooks/1"},
        )

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> Result:
        """POST ``body`` to ``url``; never raises for what the receiver or network did."""
        if self._session is None:
            raise RuntimeError("Sender.start() was not called")
        started = time.monotonic()

        def done(**fields: object) -> Result:
            latency = int((time.monotonic() - started) * 1000)
            return Result(latency_ms=latency, **fields)  # type: ignore[arg-type]

        target = url
        try:
            async with asyncio.timeout(self.timeout):
                for _hop in range(self.max_redirects + 1):
                    await self.guard.check(target)
                    async with self._session.post(
                        target,
                        data=body,
                        headers={**headers, "Content-Type": "application/json"},
                        allow_redirects=False,
                    ) as response:
                        text = await self._read(response)
                        status = response.status
                        location = response.headers.get("Location")
                        if status in (307, 308) and location:
                            target = str(response.url.join(URL(location)))
                            continue
                        delivered = 200 <= status < 300
                        error = None
                        if 300 <= status < 400:
                            error = f"HTTP {status}: redirects other than 307/308 are not followed"
                        elif not delivered:
                            error = f"HTTP {status}"
                        return done(
                            delivered=delivered,
                            status_code=status,
                            error=error,
                            response=text,
                            retry_after=retry_after(response.headers.get("Retry-After")),
                        )
                return done(delivered=False, error=f"more than {self.max_redirects} redirects")
        except Refused as refused:
            hop = "" if target == url else f" (redirected to {target})"
            return done(delivered=False, error=f"refused{hop}: {refused.reason}", refused=True)
        except _TooLarge:
            return done(
                delivered=False,
                error=f"response larger than {self.max_response_bytes} bytes: not read",
            )
        except TimeoutError:
            return done(delivered=False, error=f"no complete answer within {self.timeout:g}s")
        except aiohttp.ClientError as error:
            cause = error.__cause__ if isinstance(error.__cause__, Refused) else None
            if cause is not None:
                return done(delivered=False, error=f"refused: {cause.reason}", refused=True)
            return done(delivered=False, error=f"connection failed: {error}")

    async def _read(self, response: aiohttp.ClientResponse) -> str:
        declared = response.content_length
        if declared is not None and declared > self.max_response_bytes:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(16_384):
            size += len(chunk)
            if size > self.max_response_bytes:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)[:RESPONSE_KEPT].decode("utf-8", errors="replace")
