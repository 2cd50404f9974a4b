"""The error middleware every service builds from its own exception hierarchy.

One place per service turns exceptions into responses (authlib's and scim2-models' error
classes carry the protocol metadata; the service's renderer reads it). What is the same
everywhere lives here: the service's exceptions are rendered, aiohttp's own HTTP exceptions pass
through (or are rendered, where the protocol wants its own error format), and anything else is
logged with a reference id and answered with a generic 500 that quotes it — never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from roster_shared.observability import reference_id

E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True)
class Catch(Generic[E]):
    """Exceptions of ``types`` become the response ``render`` makes of them."""

    types: type[E] | tuple[type[E], ...]
    render: Callable[[web.Request, E], web.StreamResponse]


def error_middleware(
    *catches: Catch[Any],
    internal: Callable[[str], web.StreamResponse],
    log: logging.Logger,
    http: Callable[[web.HTTPException], web.StreamResponse] | None = None,
) -> Middleware:
    """A middleware trying ``catches`` in order, then aiohttp's HTTP exceptions, then the rest.

    ``internal(reference)`` answers an unexpected exception, logged on ``log`` with the same
    reference. ``http`` renders aiohttp's HTTP errors (status 400 and above) in the service's
    format; without it they, and redirects always, pass through as aiohttp answers them.
    """

    @web.middleware
    async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Exception as exc:
            for catch in catches:
                if isinstance(exc, catch.types):
                    return catch.render(request, exc)
            if isinstance(exc, web.HTTPException):
                if http is None or exc.status < 400:
                    raise
                return http(exc)
            reference = reference_id()
            log.exception("unhandled error", extra={"reference": reference, "path": request.path})
            return internal(reference)

    return errors_middleware


def internal_error_json(reference: str) -> web.Response:
    """The generic 500 of a JSON API: ``{"error": "internal", "reference": ...}``."""
    return web.json_response({"error": "internal", "reference": reference}, status=500)
