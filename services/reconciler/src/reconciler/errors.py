"""The reconciler's exceptions, each with its HTTP status; one middleware turns them into JSON."""

from __future__ import annotations

import logging
from typing import ClassVar

from aiohttp import web
from roster_shared.service import Catch, error_middleware, internal_error_json
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


def _reconciler_error(_request: web.Request, error: ReconcilerError) -> web.Response:
    return web.json_response({"error": error.code, "detail": error.detail}, status=error.status)


def _user_store_error(_request: web.Request, error: UserStoreClientError) -> web.Response:
    # What the reconciler asked of the user-store failed: its 404 is the caller's, the rest a
    # bad gateway (the reconciler itself is fine).
    status = 404 if error.status == 404 else 502
    code = "not_found" if status == 404 else "user_store"
    return web.json_response({"error": code, "detail": error.detail}, status=status)


errors_middleware = error_middleware(
    Catch(ReconcilerError, _reconciler_error),
    Catch(UserStoreClientError, _user_store_error),
    internal=internal_error_json,
    log=log,
)
"""The one place exceptions become responses (aiohttp's HTTP exceptions pass through)."""
