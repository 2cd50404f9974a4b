"""A cheap HTTP/1.1 client for load generators: keep-alive connections, requests written as
pre-rendered bytes, answers parsed only as far as a benchmark needs (status, ``Retry-After``,
``Connection: close``, a ``Content-Length`` body).

Why not aiohttp's client: on the 2-core machines the benchmarks run on, the generator shares
the cores with the services it measures. aiohttp's ``ClientSession.post`` costs a few hundred
microseconds of CPU per request (URL parsing, header multidicts, cookie jar, JSON encoding,
the response object); an open loop offering several hundred requests a second then takes a
fifth of a core from the services, and more the more it offers — which is exactly the arm
(2x overload) whose goodput is being compared with saturation's. This client does a tenth of
that work. It speaks only what Roster's services answer: no chunked bodies, no TLS, no
redirects; anything else is an error, not a guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


class HttpError(Exception):
    """The connection failed or the answer was not one this client reads."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None
    body: bytes


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[Answer, bool]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = _header(head, b"content-length")
        if length is None:
            if b"transfer-encoding:" in head:
                waiter.set_exception(HttpError("chunked answer: not read by this client"))
                return
            length = b"0"
        size = int(length)
        if len(self.buffer) < end + 4 + size:
            return
        body = bytes(self.buffer[end + 4 : end + 4 + size])
        del self.buffer[: end + 4 + size]
        retry = _header(head, b"retry-after")
        connection = _header(head, b"connection")
        # HTTP/1.0 closes after each answer unless it says otherwise.
        close = connection == b"close" or (
            head.startswith(b"http/1.0") and connection != b"keep-alive"
        )
        answer = Answer(int(head[9:12]), retry.decode() if retry else None, body)
        waiter.set_result((answer, close))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc!r}"))


def _header(head: bytes, name: bytes) -> bytes | None:
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    stop = head.find(b"\r\n", start)
    return head[start : stop if stop >= 0 else len(head)].strip()


class RawClient:
    """Keep-alive connections to one ``host:port``, opened as needed (no cap: an open loop
    must not wait for a free connection, or it would stop offering load on schedule)."""

    def __init__(self, host: str, port: int, *, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        self._waiting: dict[asyncio.Future[tuple[Answer, bool]], float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.opened = 0

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for waiter, expires in list(self._waiting.items()):
                if expires <= now:
                    _expire(waiter)

    async def request(self, data: bytes) -> Answer:
        """Send one pre-rendered request (``data``: request line, headers and body) and read
        its answer."""
        connection = self._idle.pop() if self._idle else None
        while connection is not None and connection.lost:  # closed by the server while idle
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = await self._open()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[Answer, bool]] = loop.create_future()
        connection.waiter = waiter
        assert connection.transport is not None
        connection.transport.write(data)
        # No timer per request (a heap entry each, at thousands a second): one sweep a second
        # expires what waited longer than the timeout.
        self._waiting[waiter] = loop.time() + self.timeout
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        try:
            answer, close = await waiter
        except BaseException:
            connection.transport.close()
            raise
        finally:
            self._waiting.pop(waiter, None)
            connection.waiter = None
        if close or connection.lost:
            connection.transport.close()
        else:
            self._idle.append(connection)
        return answer

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            raise HttpError(f"connect failed: {exc!r}") from exc
        self.opened += 1
        self._all.append(connection)
        return connection

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in self._all:
            if connection.transport is not None:
                connection.transport.close()
        self._all.clear()
        self._idle.clear()


def _expire(waiter: asyncio.Future[tuple[Answer, bool]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer in time"))


def render(method: str, host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request's bytes: what :meth:`RawClient.request` sends."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
