"""The admin API under ``/webhooks/admin/tenants/{tenant}/endpoints`` (admin token):

- ``POST`` ``{"url", "description"?, "event_types"?}`` registers an endpoint and answers its
  signing secret, once;
- ``GET`` lists them, ``GET .../{id}`` shows one (never a secret), ``DELETE .../{id}`` removes
  one with its deliveries (what was pending is dropped) and attempts;
- ``POST .../{id}/rotate`` issues a new secret; the previous one keeps signing beside it for
  ``ROSTER_SECRET_OVERLAP`` seconds;
- ``POST .../{id}/test`` sends a ``webhook.test`` event;
- ``POST .../{id}/replay`` ``{"since", "until"?}`` sends that time range's events again;
- ``GET .../{id}/attempts?limit=`` every attempt: status, latency, start of the response;
- ``POST .../{id}/pause`` ``{"reason"}`` and ``.../{id}/resume``.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from roster_shared.events.envelope import new_id, utcnow
from roster_shared.ids import is_id, is_tenant_ref

from webhooks import signing
from webhooks.errors import Invalid, NotFound, Unauthorized, UnsafeDestination
from webhooks.keys import ADMIN_TOKEN, DISPATCHER, GUARD, SECRET_OVERLAP, STORE, VAULT
from webhooks.ssrf import Refused

routes = web.RouteTableDef()
BASE = "/admin/tenants/{tenant}/endpoints"
ONE = BASE + "/{endpoint}"


def _authorise(request: web.Request) -> None:
    expected = request.app[ADMIN_TOKEN]
    if not expected:
        raise Unauthorized("the admin API is closed: set ROSTER_ADMIN_TOKEN")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("a valid admin bearer credential is required")


def _tenant(request: web.Request) -> str:
    _authorise(request)
    tenant = request.match_info["tenant"]
    if not is_tenant_ref(tenant):
        raise NotFound(f"no tenant {tenant!r}")
    return tenant


def _endpoint(request: web.Request) -> tuple[str, str]:
    tenant = _tenant(request)
    endpoint = request.match_info["endpoint"]
    if not is_id(endpoint):
        raise NotFound(f"no webhook endpoint {endpoint!r}")
    return tenant, endpoint


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise Invalid("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def public(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint without its secrets (how many are live is enough)."""
    shown = {k: v for k, v in endpoint.items() if k != "secrets"}
    shown["secrets"] = len(endpoint.get("secrets") or ())
    return shown


def _sealed(request: web.Request, secret: str) -> dict[str, Any]:
    return {"ciphertext": request.app[VAULT].encrypt(secret), "created_at": utcnow().isoformat()}


def _moment(data: dict[str, Any], name: str, default: datetime | None = None) -> datetime:
    value = data.get(name)
    if value is None and default is not None:
        return default
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(f"{name} must be an ISO 8601 time with its zone, e.g. 2026-12-01T09:00Z")
    return moment


@routes.post(BASE)
async def create(request: web.Request) -> web.Response:
    """Register an endpoint; the answer holds its secret, shown this once."""
    tenant = _tenant(request)
    data = await _body(request)
    url = data.get("url")
    if not isinstance(url, str) or not 1 <= len(url) <= 2048:
        raise Invalid("url must be a string of 1 to 2048 characters")
    try:
        await request.app[GUARD].check(url)
    except Refused as refused:
        raise UnsafeDestination(f"{url} is not allowed: {refused.reason}") from refused
    secret = signing.new_secret()
    made = await request.app[STORE].create_endpoint(
        tenant,
        {
            "url": url,
            "description": data.get("description"),
            "event_types": data.get("event_types"),
            "secret": _sealed(request, secret),
        },
    )
    return web.json_response({"endpoint": public(made), "secret": secret}, status=201)


@routes.get(BASE)
async def list_all(request: web.Request) -> web.Response:
    """The tenant's endpoints."""
    found = await request.app[STORE].list_endpoints(_tenant(request))
    return web.json_response({"endpoints": [public(e) for e in found]})


@routes.get(ONE)
async def show(request: web.Request) -> web.Response:
    """One endpoint."""
    return web.json_response(public(await request.app[STORE].get_endpoint(*_endpoint(request))))


@routes.delete(ONE)
async def delete(request: web.Request) -> web.Response:
    """Delete the endpoint: nothing more is sent to it, and what was pending for it is dropped."""
    tenant, endpoint = _endpoint(request)
    dropped = await request.app[STORE].delete_endpoint(tenant, endpoint)
    return web.json_response({"deleted": endpoint, "dropped_deliveries": dropped})


@routes.post(ONE + "/rotate")
async def rotate(request: web.Request) -> web.Response:
    """A new secret; the previous one signs too until the overlap ends."""
    tenant, endpoint = _endpoint(request)
    secret = signing.new_secret()
    until = utcnow() + timedelta(seconds=request.app[SECRET_OVERLAP])
    found = await request.app[STORE].rotate(
        tenant,
        endpoint,
        {"secret": _sealed(request, secret), "previous_expire_at": until.isoformat()},
    )
    return web.json_response(
        {"endpoint": public(found), "secret": secret, "previous_expires_at": until.isoformat()}
    )


@routes.post(ONE + "/test")
async def test(request: web.Request) -> web.Response:
    """A ``webhook.test`` event, to this endpoint only."""
    tenant, endpoint = _endpoint(request)
    found = await request.app[STORE].get_endpoint(tenant, endpoint)
    now = utcnow()
    event_id = new_id()
    payload = {
        "event_id": event_id,
        "type": "webhook.test",
        "schema_version": 1,
        "occurred_at": now.isoformat(),
        "tenant_id": found["tenant_id"],
        "data": {"endpoint_id": endpoint, "message": "a test event from Roster"},
    }
    await request.app[STORE].test_event(
        tenant,
        endpoint,
        {
            "event_id": event_id,
            "type": "webhook.test",
            "occurred_at": now.isoformat(),
            "payload": json.dumps(payload),
        },
    )
    request.app[DISPATCHER].wake()
    return web.json_response({"event_id": event_id}, status=202)


@routes.post(ONE + "/replay")
async def replay(request: web.Request) -> web.Response:
    """The events of ``[since, until)`` (until: now) delivered again, in order."""
    tenant, endpoint = _endpoint(request)
    data = await _body(request)
    since = _moment(data, "since")
    until = _moment(data, "until", default=utcnow())
    if until <= since:
        raise Invalid("until must be after since")
    count = await request.app[STORE].replay(tenant, endpoint, since.isoformat(), until.isoformat())
    request.app[DISPATCHER].wake()
    return web.json_response({"replayed": count}, status=202)


@routes.get(ONE + "/attempts")
async def attempts(request: web.Request) -> web.Response:
    """The latest attempts, newest first."""
    tenant, endpoint = _endpoint(request)
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 1000)
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    found = await request.app[STORE].attempts(tenant, endpoint, limit)
    return web.json_response({"attempts": found})


@routes.post(ONE + "/pause")
async def pause(request: web.Request) -> web.Response:
    """Stop sending (deliveries wait)."""
    tenant, endpoint = _endpoint(request)
    reason = (await _body(request)).get("reason") or "paused by an admin"
    if not isinstance(reason, str):
        raise Invalid("reason must be a string")
    found = await request.app[STORE].set_status(tenant, endpoint, "paused", reason[:1024])
    return web.json_response(public(found))


@routes.post(ONE + "/resume")
async def resume(request: web.Request) -> web.Response:
    """Send again, starting with what waited."""
    tenant, endpoint = _endpoint(request)
    found = await request.app[STORE].set_status(tenant, endpoint, "active")
    request.app[DISPATCHER].wake()
    return web.json_response(public(found))
