"""SCIM errors (RFC 7644 §3.12): one exception per kind, protocol metadata in class attributes,
turned into SCIM error JSON in one middleware."""

from __future__ import annotations

import json
import logging
from typing import ClassVar

from aiohttp import web
from pydantic import ValidationError
from roster_shared.observability import reference_id
from roster_shared.service import Catch, error_middleware
from scim2_models import Error

log = logging.getLogger(__name__)

SCIM_JSON = "application/scim+json"


class ScimError(Exception):
    """Base: a request refused with a SCIM error response."""

    status: ClassVar[int] = 400
    scim_type: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {}


class Unauthorized(ScimError):
    """No bearer token, or not a live token of this tenant (RFC 7644 §2, RFC 6750 §3)."""

    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="scim"'}


class NotFound(ScimError):
    """No such endpoint or resource."""

    status = 404


class MethodNotAllowed(ScimError):
    """The endpoint exists but does not take this method."""

    status = 405

    def __init__(self, detail: str, allowed: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class NotImplementedYet(ScimError):
    """An endpoint of SCIM that this version of Roster does not serve yet."""

    status = 501


class Unavailable(ScimError):
    """The user-store did not answer; the client may retry."""

    status = 503

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


class Overloaded(ScimError):
    """Refused by load shedding (roster_shared.service.admission): this tenant has too many
    requests in flight (429), or the service has (503). Either way: retry after a while."""

    def __init__(self, scope: str, retry_after: int) -> None:
        tenant = scope == "tenant"
        super().__init__(
            "too many requests of this tenant in flight; retry later"
            if tenant
            else "the service is at capacity; retry later"
        )
        self.status = 429 if tenant else 503  # type: ignore[misc]
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UpstreamFailed(ScimError):
    """The user-store failed on this request (its 500). Not a 503: that tells an IdP to retry
    the same request, and what fails the same way each time would be retried for ever."""

    status = 500


def from_user_store(error: Exception) -> ScimError:
    """What a failed read of the user-store means to the SCIM client: 503 (retry later) only
    when it did not answer; its own 500 is a 500, logged here with a reference id."""
    status = getattr(error, "status", None)
    if isinstance(status, int) and 500 <= status != 503:
        reference = reference_id()
        log.error(
            "the user store failed",
            extra={"reference": reference, "status": status, "error": str(error)[:300]},
        )
        return UpstreamFailed(f"internal error (reference {reference})")
    return Unavailable("the user store is not answering; retry later")


class InvalidFilter(ScimError):
    """The filter's syntax is wrong or it names what cannot be filtered (RFC 7644 §3.4.2.2)."""

    scim_type = "invalidFilter"


class InvalidSyntax(ScimError):
    """The request body is not a well-formed SCIM message."""

    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    """A PATCH path is malformed or names an unknown attribute."""

    scim_type = "invalidPath"


class InvalidValue(ScimError):
    """A value is missing, of the wrong type, or not acceptable."""

    scim_type = "invalidValue"


# The contract's field names as the SCIM attributes a client wrote (RFC 7643 §4.1, §4.2).
_SCIM_NAMES = {
    "user_name": "userName",
    "external_id": "externalId",
    "display_name": "displayName",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "member_ids": "members",
    "add": "members",
    "remove": "members",
    "correlation_id": "X-Request-Id",
}
_CONTAINERS = {"data", "attributes", "extra"}


def from_contract(error: ValidationError) -> InvalidValue:
    """A value the shared contract refuses (roster_shared.events.text: NUL, control
    characters, lengths the database cannot hold, ids of the wrong form), as a SCIM 400
    ``invalidValue`` naming the attribute in the client's terms."""
    first = error.errors()[0]
    parts: list[str] = []
    for part in first["loc"]:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part not in _CONTAINERS:
            parts.append(_SCIM_NAMES.get(str(part), str(part)))
    where = ".".join(parts) or "the resource"
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidValue(f"{where}: {message}")


class NoTarget(ScimError):
    """A PATCH operation that needs a target has none."""

    scim_type = "noTarget"


class Mutability(ScimError):
    """The request tries to change a read-only or immutable attribute."""

    scim_type = "mutability"


class TooMany(ScimError):
    """The request asks for more than this endpoint allows (operations, filter depth)."""

    scim_type = "tooMany"


class InvalidCursor(ScimError):
    """The cursor is malformed or belongs to another query (RFC 9865)."""

    scim_type = "invalidCursor"


class InvalidVersion(ScimError):
    """The If-Match / If-None-Match value is not one of our ETags."""

    scim_type = "invalidVers"


class Uniqueness(ScimError):
    """A unique attribute is already taken; the detail names the holder."""

    status = 409
    scim_type = "uniqueness"


class PreconditionFailed(ScimError):
    """If-Match does not name the resource's current version."""

    status = 412


class Forbidden(ScimError):
    """The tenant's provisioning mode does not accept this write."""

    status = 403


class PayloadTooLarge(ScimError):
    """The body is larger than advertised (ServiceProviderConfig)."""

    status = 413


class TooManyOperations(PayloadTooLarge):
    """A Bulk request over ``maxOperations``: RFC 7644 §3.7.4 answers it with 413."""

    scim_type = "tooMany"


class UnsupportedMediaType(ScimError):
    """The body is not JSON."""

    status = 415


def error_response(
    status: int, detail: str, *, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """A SCIM error message (``urn:ietf:params:scim:api:messages:2.0:Error``)."""
    error = Error(status=status, detail=detail, scim_type=scim_type)
    return web.Response(
        status=status,
        text=json.dumps(error.model_dump(exclude_none=True)),
        content_type=SCIM_JSON,
        headers=headers,
    )


def _scim_error(_request: web.Request, error: ScimError) -> web.Response:
    return error_response(
        error.status, error.detail, scim_type=error.scim_type, headers=error.headers()
    )


errors_middleware = error_middleware(
    Catch(ScimError, _scim_error),
    # aiohttp's own (no route, body too large...) are SCIM errors too: an IdP parses them.
    http=lambda exc: error_response(exc.status, exc.reason),
    internal=lambda reference: error_response(500, f"internal error (reference {reference})"),
    log=log,
)
"""The one place exceptions become SCIM error responses; unknown ones get a reference id."""
