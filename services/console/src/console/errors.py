"""The console's errors: an HTML page for a person, with a reference id for anything unexpected.

Bad input in a form is not an error page: the handler renders the form again with the message
(:class:`FormError` carries it), and nothing was changed. What reaches the middleware is a page
that cannot be shown (no such tenant, a link that is not valid), a missing sign-in (a redirect),
a refused form (no CSRF token), or an admin API that did not answer.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from aiohttp import web
from roster_shared.observability import reference_id
from roster_shared.service import Catch, error_middleware

from console.pages import render

log = logging.getLogger(__name__)


class ConsoleError(Exception):
    """Base: a page that cannot be shown, with a message fit for the person."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Something is not right"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason or detail


class NotFound(ConsoleError):
    status = 404
    title = "Not found"


class Forbidden(ConsoleError):
    """A form without a valid CSRF token (or from another browser session)."""

    status = 403
    title = "Form refused"


class LinkInvalid(ConsoleError):
    """A setup link that is not one, or no longer is (expired, revoked)."""

    status = 404
    title = "This setup link cannot be used"


class LinkGone(LinkInvalid):
    status = 410


class Unavailable(ConsoleError):
    """An API the console acts through did not answer."""

    status = 503
    title = "Temporarily unavailable"


class FormError(Exception):
    """Bad input in a form: shown beside the form, nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _page(
    request: web.Request, status: int, title: str, detail: str, reference: str
) -> web.Response:
    response = render(
        "error.html",
        request,
        {"title": title, "detail": detail, "reference": reference},
        status=status,
    )
    return response


def _console_error(request: web.Request, error: ConsoleError) -> web.Response:
    reference = reference_id()
    log.info(
        "console error page",
        extra={
            "reference": reference,
            "path": request.path[:64],
            "status": error.status,
            "reason": error.reason,
        },
    )
    return _page(request, error.status, error.title, error.detail, reference)


def _internal(reference: str) -> web.Response:
    # Without the request, no template: a plain page that still quotes the reference.
    return web.Response(
        status=500,
        text="<!doctype html><title>Something went wrong</title><h1>Something went wrong</h1>"
        f"<p>Reference: <code>{reference}</code></p>",
        content_type="text/html",
    )


errors_middleware = error_middleware(
    Catch(ConsoleError, _console_error), internal=_internal, log=log
)
"""The one place exceptions become pages (aiohttp's HTTP exceptions and redirects pass)."""
