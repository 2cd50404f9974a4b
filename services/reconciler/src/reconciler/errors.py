"""The reconciler's exceptions, each with its HTTP status; one middleware turns them into JSON."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar

from aiohttp import web
from roster_shared.observability import reference_id
from roster_shared.userstore_client import UserStoreClientError

log = logging.getLogger(__name__)


class ReconcilerError(Exception):
    """Base: something the caller can be told."""

    code: ClassVar[str] = "invalid"
    status: ClassVar[int] = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(ReconcilerError):
    """A malformed request."""


class Unauthorized(ReconcilerError):
    """No or a wrong admin credential."""

    code = "unauthorized"
    status = 401


class NotFound(ReconcilerError):
    """No such tenant or run."""

    code = "not_found"
    status = 404


class Conflict(ReconcilerError):
    """The run is in a state that does not allow this (approving a run that is not held)."""

    code = "conflict"
    status = 409


class Busy(ReconcilerError):
    """Another instance is running this tenant now."""

    code = "busy"
    status = 409


class NotConfigured(ReconcilerError):
    """The reconciler lacks a setting (the directory key) or the tenant lacks a directory."""

    code = "not_configured"
    status = 409


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place exceptions become responses."""
    try:
        return await handler(request)
    except ReconcilerError as error:
        return web.json_response({"error": error.code, "detail": error.detail}, status=error.status)
    except UserStoreClientError as error:
        status = 404 if error.status == 404 else 502
        code = "not_found" if status == 404 else "user_store"
        return web.json_response({"error": code, "detail": error.detail}, status=status)
    except web.HTTPException:
        raise
    except Exception:
        reference = reference_id()
        log.exception("unhandled error", extra={"reference": reference, "path": request.path})
        return web.json_response({"error": "internal", "reference": reference}, status=500)
