"""What every SCIM view does around its verb: authenticate the tenant first, then dispatch to
the method named after the verb (405 with ``Allow`` otherwise), and read and write SCIM JSON
within the advertised bounds."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Generator
from typing import Any, ClassVar

from aiohttp import web
from roster_shared import bounded_json
from roster_shared.events.text import correlation
from roster_shared.ids import is_tenant_ref
from roster_shared.tenants import TenantInfo

from scim_api.auth import authenticate, bearer_token, refused
from scim_api.errors import (
    SCIM_JSON,
    InvalidSyntax,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from scim_api.keys import PUBLIC_BASE, SERVICE, USER_STORE
from scim_api.messages import preconditions
from scim_api.resources.discovery import MAX_PAYLOAD
from scim_api.resources.meta import etag
from scim_api.service import Call, ScimService

MAX_BODY = MAX_PAYLOAD
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")
"""The verbs a view may serve, in the order ``Allow`` lists them; HEAD is served by ``get``."""


def scim_json(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response carrying ``application/scim+json``."""
    return web.Response(
        status=status, text=json.dumps(data), content_type=SCIM_JSON, headers=headers
    )


def created(resource: dict[str, Any], version: int) -> web.Response:
    """201 Created (RFC 7644 §3.3): the new resource, where it lives, and its ETag."""
    headers = {"Location": resource["meta"]["location"], "ETag": etag(version)}
    return scim_json(resource, status=201, headers=headers)


def not_modified_response(version: int) -> web.Response:
    """304 Not Modified (RFC 7644 §3.14): ``If-None-Match`` named the current version."""
    return web.Response(status=304, headers={"ETag": etag(version)})


def tenant_ref(request: web.Request) -> str:
    """The tenant the path names; 401 when it cannot name one (the answer an unknown tenant
    gets, given without asking)."""
    tenant = request.match_info["tenant"]
    if not is_tenant_ref(tenant):
        raise refused()
    return tenant


def call_for(request: web.Request, info: TenantInfo) -> Call:
    """The call of a request whose token was verified live for ``info``."""
    # From settings, never from Host or X-Forwarded-*: a client must not choose the URLs that
    # IdPs and logs will follow. The tenant ref is one the token was just verified for.
    base = f"{request.app[PUBLIC_BASE]}/v2/{request.match_info['tenant']}"
    # A client's X-Request-Id becomes the events' correlation id only if it has the id form;
    # any other value would make the event invalid, so it is replaced, not refused.
    correlation_id = correlation(request.headers.get("X-Request-Id")) or str(uuid.uuid4())
    return Call(info, base, correlation_id)


async def authenticated(request: web.Request) -> Call:
    """The call a request makes: its tenant, authenticated by the bearer token, else 401."""
    tenant = tenant_ref(request)
    info = await authenticate(request.app[USER_STORE], tenant, request.headers.get("Authorization"))
    return call_for(request, info)


class ScimView(web.View):
    """A SCIM endpoint under ``/v2/{tenant}``: subclasses define ``get``, ``post``, ``put``,
    ``patch`` and ``delete`` as they serve them, with :attr:`call` already authenticated.

    Authentication comes before the method check, so a client without a valid token learns
    nothing of which methods a path takes.
    """

    call: Call
    token_checked_get: ClassVar[bool] = False
    """Whether ``get`` checks the token itself, in the same internal request as its read
    (``roster_shared.token_reads``), and sets :attr:`call` from the answer. Such a ``get``
    must call :meth:`authenticate` before raising anything about the request itself, so an
    unauthenticated client still gets 401 before any other answer."""

    def __await__(self) -> Generator[Any, None, web.StreamResponse]:
        return self._dispatch().__await__()

    async def _dispatch(self) -> web.StreamResponse:
        verb = "GET" if self.request.method == "HEAD" else self.request.method
        if verb == "GET" and self.token_checked_get:
            get: Callable[[], Awaitable[web.StreamResponse]] = getattr(self, "get")  # noqa: B009
            return await get()
        self.call = await authenticated(self.request)
        handler: Callable[[], Awaitable[web.StreamResponse]] | None = (
            getattr(self, verb.lower(), None) if verb in VERBS else None
        )
        if handler is None:
            raise MethodNotAllowed(
                f"{self.request.method} is not allowed on {self.request.path}", self.allowed()
            )
        return await handler()

    def presented(self) -> tuple[str, str]:
        """``(tenant ref, bearer token)`` of a ``get`` that checks the token itself; 401
        without asking when either cannot be one."""
        return tenant_ref(self.request), bearer_token(self.request.headers.get("Authorization"))

    async def authenticate(self) -> None:
        """Check the token on its own (a ``token_checked_get`` about to refuse the request)."""
        self.call = await authenticated(self.request)

    def accept(self, info: TenantInfo) -> None:
        """The token was verified live for ``info`` along with the read."""
        self.call = call_for(self.request, info)

    @classmethod
    def allowed(cls) -> tuple[str, ...]:
        """The verbs this view serves (``Allow``)."""
        return tuple(verb for verb in VERBS if hasattr(cls, verb.lower()))

    @property
    def service(self) -> ScimService:
        """The use cases."""
        return self.request.app[SERVICE]

    async def json_body(self) -> Any:
        """The request's JSON; 413 over the limit, 415 when not JSON, 400 when malformed.

        A body declared as something else (``application/x-www-form-urlencoded``, what Okta's
        SPEC test and ``curl -d`` send) or not declared at all is still read as JSON when it
        is a JSON object or array: the declaration is wrong, the message is unambiguous. Any
        other body under a foreign type stays a 415 (docs/interop.md).
        """
        request = self.request
        content_type = request.headers.get("Content-Type")
        main = content_type.split(";", 1)[0].strip().lower() if content_type else ""
        declared = not main or "json" in main or main == "application/octet-stream"
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
        try:
            raw = await request.content.read(MAX_BODY + 1)
        except ValueError as exc:  # pragma: no cover - aiohttp reports payload errors this way
            raise InvalidSyntax("the body could not be read") from exc
        if len(raw) > MAX_BODY:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
        if not declared and raw.lstrip()[:1] not in (b"{", b"["):
            raise UnsupportedMediaType(
                f"send application/scim+json or application/json, not {main}"
            )
        try:
            return bounded_json.loads(raw)
        except bounded_json.TooDeep as exc:
            raise InvalidSyntax(f"the body is not a SCIM message: {exc}") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            if not declared:
                raise UnsupportedMediaType(
                    f"the body is not JSON: send application/scim+json, not {main}"
                ) from exc
            raise InvalidSyntax(f"the body is not valid JSON: {exc}") from exc

    async def json_object(self) -> dict[str, Any]:
        """The request's JSON, which must be an object."""
        body = await self.json_body()
        if not isinstance(body, dict):
            raise InvalidSyntax("the body must be a JSON object")
        return body

    def if_match(self) -> int | None:
        """The version ``If-Match`` requires, or None."""
        return preconditions.if_match(self.request.headers.get("If-Match"))

    def not_modified(self, version: int) -> bool:
        """Whether ``If-None-Match`` already holds ``version`` (answer 304)."""
        return preconditions.not_modified(self.request.headers.get("If-None-Match"), version)
