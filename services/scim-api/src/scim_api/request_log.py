"""Each SCIM request of a tenant goes to the provisioning request log
(:mod:`roster_shared.request_log`).

The middleware sits outside the error middleware, so it sees the answer the IdP got, SCIM error
JSON included. It records the route template (``POST /Users``: no ids, no values, no body), the
status, for an error its ``detail`` with a reference id — the same reference goes to the log line
and to the IdP in the ``X-Roster-Reference`` header — and the id part of the bearer token (public;
never the secret) so the console can say when each token was last used. Recording appends to a
buffer; the recorder sends batches in the background. A refusal by load shedding gets no
reference and no log line of its own (a summary line every 10 s), and only the first of each
tenant per second is recorded, with its scope as the reason: under overload they come by the
hundred a second, and the user-store stores each record.
"""

from __future__ import annotations

import json
import logging
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from roster_shared.observability import reference_id
from roster_shared.request_log import Recorder
from roster_shared.service.admission import SHED

log = logging.getLogger(__name__)

REFERENCE_HEADER = "X-Roster-Reference"
_TOKEN_ID = re.compile(r"^Bearer\s+rst_([A-Za-z0-9]{16})_", re.IGNORECASE)
# The routes match endpoint names in any case with an optional trailing slash (scim_api.routes):
# the group ``(?P<_0>(?i:Users))`` reads as ``Users`` and ``{_slash}`` as nothing in the log.
_ANY_CASE = re.compile(r"\(\?P<(_\w+)>\(\?i:((?:[^()\\]|\\.)*)\)\)")


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    info = resource.get_info() if resource is not None else {}
    template = str(info.get("formatter") or info.get("path") or "")
    pattern = info.get("pattern")
    if isinstance(pattern, re.Pattern):
        for name, spelled in _ANY_CASE.findall(pattern.pattern):
            template = template.replace(f"{{{name}}}", re.sub(r"\\(.)", r"\1", spelled))
    template = template.replace("{_slash}", "")
    # The template starts at the mount's ``/v2/{tenant}``: keep what follows.
    template = template.partition("{tenant}")[2] or "/"
    return f"{request.method} {template}"[:128]


def _detail(response: web.StreamResponse) -> str | None:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None
    try:
        detail = json.loads(response.body).get("detail")
    except (ValueError, AttributeError):
        return None
    return str(detail) if detail else None


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_SHED_REASONS = {
    "tenant": "load shed: too many requests of this tenant in flight",
    "total": "load shed: the service is at capacity",
    "queued": "load shed: the request waited too long before it could be served",
}


class _ShedSummary:
    """Refusals by load shedding, logged as one line per ``every`` seconds and recorded in the
    request log as one record per tenant per ``sample`` seconds, not one each: under overload
    there are hundreds a second, and a log line or a stored record each is work the overloaded
    services (the user-store stores the request log) do for nobody. Their exact count is
    ``roster_scim_api_shed_total``."""

    def __init__(self, every: float = 10.0, sample: float = 1.0) -> None:
        self.every = every
        self.sample = sample
        self.count = 0
        self.since = time.monotonic()
        self.recorded: dict[str, float] = {}  # tenant -> when its last refusal was recorded

    def add(self, tenant: str) -> bool:
        """Count one refusal; True when it is to be recorded (the tenant's first this
        ``sample``)."""
        self.count += 1
        now = time.monotonic()
        if now - self.since >= self.every:
            log.warning(
                "load shed",
                extra={"refused": self.count, "seconds": round(now - self.since, 1)},
            )
            self.count, self.since = 0, now
            # Forget tenants not seen for a while, so the map stays as small as the traffic.
            self.recorded = {t: at for t, at in self.recorded.items() if now - at < self.every}
        if now - self.recorded.get(tenant, float("-inf")) < self.sample:
            return False
        self.recorded[tenant] = now
        return True


def recording_middleware(recorder: Recorder) -> Middleware:
    """Record each answered request of a tenant's SCIM endpoint."""
    summary = _ShedSummary()
    # A route's template is the same for every request it matches: worked out once per route
    # and method rather than with regular expressions per request.
    templates: dict[tuple[str, object], str] = {}

    def route_of(request: web.Request) -> str:
        resource = request.match_info.route.resource
        if resource is None or request.method not in _METHODS:
            # Any method name reaches a view: only the HTTP ones are remembered, so a client
            # cannot grow the map.
            return _route(request)
        key = (request.method, resource)
        template = templates.get(key)
        if template is None:
            template = templates[key] = _route(request)
        return template

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        tenant = request.match_info.get("tenant")
        if tenant is None:
            return response
        reason = reference = None
        shed = request.get(SHED)
        if shed is not None:
            # A refusal costs as little as it can: no body parsed, no log line of its own, one
            # record per tenant per second.
            if not summary.add(tenant):
                return response
            reason = _SHED_REASONS.get(shed, "load shed")
        elif response.status >= 400:
            reason = _detail(response) or response.reason
            reference = reference_id()
            response.headers[REFERENCE_HEADER] = reference
            log.info(
                "scim error",
                extra={
                    "reference": reference,
                    "tenant": tenant[:64],
                    "status": response.status,
                    "route": route_of(request),
                    "reason": reason,
                },
            )
        match = _TOKEN_ID.match(request.headers.get("Authorization", ""))
        recorder.record(
            tenant=tenant,
            source="scim",
            method=request.method,
            route=route_of(request),
            status=response.status,
            reason=reason,
            reference=reference,
            token_id=match.group(1) if match and response.status != 401 else None,
        )
        return response

    return record
