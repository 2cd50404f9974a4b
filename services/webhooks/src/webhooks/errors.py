"""The webhooks service's exceptions, each with its HTTP status; one middleware makes JSON."""

from __future__ import annotations

import logging
from typing import ClassVar

from aiohttp import web
from roster_shared.service import Catch, error_middleware, internal_error_json

log = logging.getLogger(__name__)


class WebhooksError(Exception):
    """Base: something the caller can be told."""

    code: ClassVar[str] = "invalid"
    status: ClassVar[int] = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(WebhooksError):
    """A malformed request."""


class UnsafeDestination(Invalid):
    """An endpoint URL that could reach inside the network (SSRF), or is not https."""

    code = "unsafe_url"


class Unauthorized(WebhooksError):
    """No or a wrong admin credential."""

    code = "unauthorized"
    status = 401


class NotFound(WebhooksError):
    """No such tenant or endpoint."""

    code = "not_found"
    status = 404


class StoreError(WebhooksError):
    """The user-store refused or did not answer."""

    code = "user_store"
    status = 502


def _render(_request: web.Request, error: WebhooksError) -> web.Response:
    return web.json_response({"error": error.code, "detail": error.detail}, status=error.status)


errors_middleware = error_middleware(
    Catch(WebhooksError, _render), internal=internal_error_json, log=log
)
"""The one place exceptions become responses."""
