"""sso-login's errors. A person's browser sees them, so they become a short page with a reference
id to quote (the log line carries the same id), never a traceback."""

from __future__ import annotations

import html
import logging
from typing import ClassVar

from aiohttp import web
from roster_shared.observability import reference_id
from roster_shared.service import Catch, error_middleware

from sso_login import request_log

log = logging.getLogger(__name__)


class LoginError(Exception):
    """Base: a login that cannot go on, with a message fit to show the person."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Sign-in failed"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason or detail
        """What went wrong in technical terms: logged with the reference, never shown."""

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` on the temporary refusals)."""
        return {}


class UnknownTenant(LoginError):
    """No organisation with that name."""

    status = 404
    title = "Unknown organisation"


class Refused(LoginError):
    """A protocol message we do not accept (bad signature, replay, wrong audience...)."""

    status = 400
    title = "Sign-in failed"


class AccessDenied(LoginError):
    """The person is known to be refused: not provisioned, deactivated."""

    status = 403
    title = "Access denied"


class NotConfigured(LoginError):
    """The organisation has not connected an identity provider of that kind."""

    status = 404
    title = "Single sign-on is not set up"


class SessionRequired(LoginError):
    """No valid session."""

    status = 401
    title = "Not signed in"


class NotImplementedYet(LoginError):
    """A part of single sign-on that this version of Roster does not serve yet."""

    status = 501
    title = "Not available yet"


class Unavailable(LoginError):
    """A service sign-in depends on did not answer."""

    status = 503
    title = "Sign-in is unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class Overloaded(LoginError):
    """Refused by load shedding (roster_shared.service.admission): too many sign-ins of this
    organisation (429) or in all (503) are in flight."""

    title = "Sign-in is busy"

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(
            "Too many people are signing in right now; please try again in a moment.",
            reason=f"load shed ({scope})",
        )
        self.status = 429 if scope == "tenant" else 503  # type: ignore[misc]
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def error_page(
    status: int,
    title: str,
    detail: str,
    reference: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A minimal HTML error page that quotes the reference id."""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p>"
        f"<p>Reference: <code>{reference}</code></p></body></html>"
    )
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


def _login_error_page(request: web.Request, error: LoginError) -> web.Response:
    reference = reference_id()
    log.info(
        "sign-in error page",
        extra={
            "reference": reference,
            "path": request.path,
            "status": error.status,
            "reason": error.reason,
        },
    )
    request_log.record(request, error.status, reason=error.reason, reference=reference)
    return error_page(error.status, error.title, error.detail, reference, error.headers())


errors_middleware = error_middleware(
    Catch(LoginError, _login_error_page),
    internal=lambda reference: error_page(
        500, "Something went wrong", "Sign-in failed unexpectedly.", reference
    ),
    log=log,
)
"""The one place exceptions become error pages (aiohttp's HTTP exceptions pass through)."""
