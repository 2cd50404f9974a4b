"""Sign-ins, accepted and refused, go to the provisioning request log
(:mod:`roster_shared.request_log`).

A refused sign-in is recorded with the reason and the reference id its error page quotes, so the
console shows the customer's admin the same reason the log line carries; an accepted one with
its status only. Never the assertion, the ID token or an attribute value.
"""

from __future__ import annotations

from aiohttp import web
from roster_shared.request_log import Recorder

RECORDER: web.AppKey[Recorder | None] = web.AppKey("request_recorder")


def record(
    request: web.Request, status: int, *, reason: str | None = None, reference: str | None = None
) -> None:
    """Record the sign-in ``request`` answered with ``status`` (of a tenant's path only)."""
    recorder = request.app.get(RECORDER)
    tenant = request.match_info.get("tenant")
    if recorder is None or tenant is None:
        return
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else ""
    route = template.partition("{tenant}")[2] or "/"  # after the mount prefix and tenant
    recorder.record(
        tenant=tenant,
        source="sso",
        method=request.method,
        route=f"{request.method} {route}",
        status=status,
        reason=reason,
        reference=reference,
    )
