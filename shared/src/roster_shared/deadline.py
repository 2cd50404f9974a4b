"""One deadline per request, end to end: authentication, the send and the reply wait share it.

An IdP gives up on a request after its own timeout (Entra ID: 60 s) and retries; an answer
after that is wasted work, and a request that waits the sum of every step's own timeout can pass
it. So scim-api and sso-login give each request one deadline
(``ROSTER_REQUEST_DEADLINE``, 25 s) with :func:`deadline_middleware`; every step that waits —
a call to the user-store's internal API (:mod:`roster_shared.userstore_client`), sending an
ingestion event and waiting for its reply (:mod:`roster_shared.bus.ingest`) — waits at most
:func:`remaining` of it, and at most its own timeout. Past the deadline the middleware answers
for the service (503 with ``Retry-After``) instead of letting the request run on.

The deadline travels in a context variable, so the code between the middleware and the steps
needs no extra argument; outside a request (a CLI command, a background task) there is none and
each step keeps its own timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

_DEADLINE: ContextVar[float | None] = ContextVar("roster_deadline", default=None)


def remaining(cap: float | None = None) -> float:
    """Seconds left before the current request's deadline, at most ``cap`` (no deadline: the
    cap, or infinity without one). Zero or less means the deadline has passed."""
    deadline = _DEADLINE.get()
    left = float("inf") if deadline is None else deadline - time.monotonic()
    return left if cap is None else min(cap, left)


def deadline_middleware(seconds: float, expired: Callable[[], Exception]) -> Middleware:
    """Give every request ``seconds`` in all; past that, cancel it and raise ``expired()`` (the
    service's own 503, rendered by its error middleware, which this one must run inside)."""

    @web.middleware
    async def with_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = _DEADLINE.set(time.monotonic() + seconds)
        try:
            async with asyncio.timeout(seconds):
                return await handler(request)
        except TimeoutError as exc:
            raise expired() from exc
        finally:
            _DEADLINE.reset(token)

    return with_deadline
