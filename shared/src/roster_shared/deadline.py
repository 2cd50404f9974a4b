"""One deadline per request, end to end: authentication, the send and the reply wait share it.

An IdP gives up on a request after its own timeout (Entra ID: 60 s) and retries; an answer
after that is wasted work, and a request that waits the sum of every step's own timeout can pass
it. So scim-api and sso-login give each request one deadline
(``ROSTER_REQUEST_DEADLINE``, 25 s) with :func:`deadline_middleware`; every step that waits —
a call to the user-store's internal API (:mod:`roster_shared.userstore_client`), sending an
ingestion event and waiting for its reply (:mod:`roster_shared.bus.ingest`) — waits at most
:func:`remaining` of it, and at most its own timeout. Past the deadline the middleware answers
for the service (503 with ``Retry-After``) instead of letting the request run on.

The deadline counts from the request's **arrival**, not from when its handler starts: under
overload a request waits in the event loop after its bytes were read — its connection's task
must wake, then its handler's task must be scheduled, each behind every other ready callback —
and the IdP's clock runs all that time. :func:`stamp_arrivals` makes the root application stamp
each request (:data:`ARRIVED`) as aiohttp's connection task takes it from the parser, the
earliest point aiohttp lets an application observe without patching its protocol; the
middleware counts from that stamp (from its own start where there is none). What stays
unobservable: the time a connection waits in the kernel's accept backlog and bytes wait in the
socket buffer before the loop reads them, and the one loop iteration between reading and the
stamp. Admission control bounds those: with the requests in flight bounded, each loop
iteration is short, so the loop reads sockets often and nothing waits there long.

The deadline travels in a context variable, so the code between the middleware and the steps
needs no extra argument; outside a request (a CLI command, a background task) there is none and
each step keeps its own timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

ARRIVED = web.RequestKey("roster_arrived", float)
"""When the request was taken from its connection's parser (``time.monotonic()``)."""

_DEADLINE: ContextVar[float | None] = ContextVar("roster_deadline", default=None)


def remaining(cap: float | None = None) -> float:
    """Seconds left before the current request's deadline, at most ``cap`` (no deadline: the
    cap, or infinity without one). Zero or less means the deadline has passed."""
    deadline = _DEADLINE.get()
    left = float("inf") if deadline is None else deadline - time.monotonic()
    return left if cap is None else min(cap, left)


def stamp_arrivals(root: web.Application) -> None:
    """Make ``root`` (the application the server runs) stamp each request with :data:`ARRIVED`
    as it is created, before its handler's task is even scheduled."""
    # aiohttp builds each request with the running application's request factory, taken when
    # the server starts; it has no public hook, so the factory is wrapped on this instance.
    make = root._make_request

    def stamped(*args: Any, **kwargs: Any) -> web.BaseRequest:
        request = make(*args, **kwargs)
        request[ARRIVED] = time.monotonic()
        return request

    # object.__setattr__: aiohttp in debug mode warns on any attribute set on an application.
    object.__setattr__(root, "_make_request", stamped)


def arrived(request: web.BaseRequest) -> float:
    """When ``request`` arrived: its :data:`ARRIVED` stamp, or now when it has none."""
    return request.get(ARRIVED) or time.monotonic()


def deadline_middleware(seconds: float, expired: Callable[[], Exception]) -> Middleware:
    """Give every request ``seconds`` in all, counted from its arrival (:func:`arrived`); past
    that, cancel it and raise ``expired()`` (the service's own 503, rendered by its error
    middleware, which this one must run inside). A request that waited past its deadline
    before its handler ran is answered at once."""

    @web.middleware
    async def with_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        deadline = arrived(request) + seconds
        left = deadline - time.monotonic()
        if left <= 0:
            raise expired()
        token = _DEADLINE.set(deadline)
        try:
            async with asyncio.timeout(left):
                return await handler(request)
        except TimeoutError as exc:
            raise expired() from exc
        finally:
            _DEADLINE.reset(token)

    return with_deadline
