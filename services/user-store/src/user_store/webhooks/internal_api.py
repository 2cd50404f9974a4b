"""The webhooks service's part of the user-store's internal API: endpoints per tenant under
``/internal/tenants/{ref}/webhooks``, and the delivery machinery under ``/internal/webhooks``
(consumed events, claims, attempts). The webhooks service never writes the database itself.

Bodies are checked here for form (a 400 names the field); what a URL may be (https, no private
address) is the webhooks service's rule, checked there before anything is stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from user_store import tenants
from user_store.bodies import json_object
from user_store.errors import Invalid
from user_store.keys import SESSIONS
from user_store.webhooks import deliveries, endpoints, on_demand, retention
from user_store.webhooks.tables import ACTIVE, PAUSED

routes = web.RouteTableDef()
TENANT = "/internal/tenants/{ref}/webhooks/endpoints"
ENDPOINT = TENANT + "/{endpoint}"
MAX_BODY = 16 * 1_048_576  # a batch of consumed events carries full user snapshots


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Invalid("request body too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise Invalid("request body too large")
    return json_object(raw or b"{}")


def _text(data: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise Invalid(f"{name} must be a string of 1 to {limit} characters")
    return value


def _when(data: dict[str, Any], name: str) -> datetime:
    value = data.get(name)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Invalid(f"{name} must be an ISO 8601 time with its zone")
    return moment


def _secret(data: dict[str, Any]) -> dict[str, Any]:
    secret = data.get("secret")
    if not isinstance(secret, dict) or not isinstance(secret.get("ciphertext"), str):
        raise Invalid("secret must be an object with the ciphertext")
    return {
        "ciphertext": secret["ciphertext"][:4096],
        "created_at": _when(secret, "created_at").isoformat(),
        "expires_at": None,
    }


async def _tenant(session: Any, request: web.Request) -> str:
    return (await tenants.find_tenant_row(session, request.match_info["ref"])).id


@routes.post(TENANT)
async def endpoint_create(request: web.Request) -> web.Response:
    """``{"url", "secret": {"ciphertext", "created_at"}, "description"?, "event_types"?}``."""
    data = await _json(request)
    url = _text(data, "url", 2048)
    description = _text(data, "description", 512, required=False)
    types = data.get("event_types")
    if types is not None and (
        not isinstance(types, list)
        or not all(isinstance(t, str) and 0 < len(t) <= 64 for t in types)
    ):
        raise Invalid("event_types must be a list of event type names")
    async with request.app[SESSIONS]() as session, session.begin():
        made = await endpoints.create_endpoint(
            session,
            await _tenant(session, request),
            url or "",
            _secret(data),
            description=description,
            event_types=types or None,
        )
    return web.json_response(made, status=201)


@routes.get(TENANT)
async def endpoint_list(request: web.Request) -> web.Response:
    """The tenant's endpoints."""
    async with request.app[SESSIONS]() as session:
        found = await endpoints.list_endpoints(session, await _tenant(session, request))
    return web.json_response({"endpoints": found})


@routes.get(ENDPOINT)
async def endpoint_get(request: web.Request) -> web.Response:
    """One endpoint."""
    async with request.app[SESSIONS]() as session:
        found = await endpoints.get_endpoint(
            session, await _tenant(session, request), request.match_info["endpoint"]
        )
    return web.json_response(found)


@routes.delete(ENDPOINT)
async def endpoint_delete(request: web.Request) -> web.Response:
    """Delete the endpoint with its deliveries and attempts: ``{"deleted", "dropped"}`` (how many
    pending deliveries went with it)."""
    endpoint_id = request.match_info["endpoint"]
    async with request.app[SESSIONS]() as session, session.begin():
        dropped = await endpoints.delete_endpoint(
            session, await _tenant(session, request), endpoint_id
        )
    return web.json_response({"deleted": endpoint_id, "dropped": dropped})


@routes.post(ENDPOINT + "/secrets")
async def endpoint_rotate(request: web.Request) -> web.Response:
    """``{"secret": {...}, "previous_expire_at"}``: rotate, keeping the previous one a while."""
    data = await _json(request)
    async with request.app[SESSIONS]() as session, session.begin():
        found = await endpoints.add_secret(
            session,
            await _tenant(session, request),
            request.match_info["endpoint"],
            _secret(data),
            _when(data, "previous_expire_at"),
        )
    return web.json_response(found)


@routes.post(ENDPOINT + "/status")
async def endpoint_status(request: web.Request) -> web.Response:
    """``{"status": "active"|"paused", "reason"?}``."""
    data = await _json(request)
    status = data.get("status")
    if status not in (ACTIVE, PAUSED):
        raise Invalid("status must be active or paused")
    reason = _text(data, "reason", 1024, required=status == PAUSED)
    async with request.app[SESSIONS]() as session, session.begin():
        found = await endpoints.set_status(
            session, await _tenant(session, request), request.match_info["endpoint"], status, reason
        )
    return web.json_response(found)


@routes.post(ENDPOINT + "/replay")
async def endpoint_replay(request: web.Request) -> web.Response:
    """``{"since", "until"}`` → ``{"replayed": n}``."""
    data = await _json(request)
    since, until = _when(data, "since"), _when(data, "until")
    if until <= since:
        raise Invalid("until must be after since")
    async with request.app[SESSIONS]() as session, session.begin():
        count = await on_demand.replay(
            session, await _tenant(session, request), request.match_info["endpoint"], since, until
        )
    return web.json_response({"replayed": count})


@routes.post(ENDPOINT + "/test")
async def endpoint_test(request: web.Request) -> web.Response:
    """``{"event_id", "type", "occurred_at", "payload"}``: a test event for this endpoint."""
    data = await _json(request)
    event = {
        "event_id": _text(data, "event_id", 64),
        "type": _text(data, "type", 64),
        "occurred_at": _when(data, "occurred_at").isoformat(),
        "payload": _text(data, "payload", 1_048_576),
    }
    async with request.app[SESSIONS]() as session, session.begin():
        made = await on_demand.test_event(
            session, await _tenant(session, request), request.match_info["endpoint"], event
        )
    return web.json_response(made, status=201)


@routes.get(ENDPOINT + "/attempts")
async def endpoint_attempts(request: web.Request) -> web.Response:
    """``?limit=50``: the latest attempts, newest first."""
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 1000)
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    async with request.app[SESSIONS]() as session:
        found = await deliveries.list_attempts(
            session, await _tenant(session, request), request.match_info["endpoint"], limit
        )
    return web.json_response({"attempts": found})


@routes.post("/internal/webhooks/events")
async def events_record(request: web.Request) -> web.Response:
    """``{"events": [{"event_id", "tenant_id", "type", "ordering_key", "occurred_at",
    "payload"}]}``, in consumption order."""
    data = await _json(request)
    batch = data.get("events")
    if not isinstance(batch, list) or len(batch) > 5000:
        raise Invalid("events must be a list of at most 5000 events")
    checked = []
    for event in batch:
        if not isinstance(event, dict):
            raise Invalid("each event must be an object")
        checked.append(
            {
                "event_id": _text(event, "event_id", 64),
                "tenant_id": _text(event, "tenant_id", 64),
                "type": _text(event, "type", 64),
                "ordering_key": _text(event, "ordering_key", 128),
                "occurred_at": _when(event, "occurred_at").isoformat(),
                "payload": _text(event, "payload", 4_194_304),
            }
        )
    async with request.app[SESSIONS]() as session, session.begin():
        recorded, made = await deliveries.record_events(session, checked)
    return web.json_response({"recorded": recorded, "deliveries": made})


@routes.post("/internal/webhooks/claims")
async def deliveries_claim(request: web.Request) -> web.Response:
    """``{"holder", "limit", "lease_seconds"}`` → ``{"deliveries": [...]}``."""
    data = await _json(request)
    holder = _text(data, "holder", 128) or ""
    limit, lease = data.get("limit"), data.get("lease_seconds")
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise Invalid("limit must be between 1 and 1000")
    if not isinstance(lease, int | float) or not 1 <= lease <= 3600:
        raise Invalid("lease_seconds must be between 1 and 3600")
    async with request.app[SESSIONS]() as session, session.begin():
        found = await deliveries.claim(session, holder, limit, timedelta(seconds=lease))
    return web.json_response({"deliveries": found})


def _attempt(data: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(data.get("delivered"), bool):
        raise Invalid("delivered must be true or false")
    if not isinstance(data.get("latency_ms"), int):
        raise Invalid("latency_ms must be a number")
    status = data.get("status_code")
    attempt = {
        "attempted_at": _when(data, "attempted_at").isoformat(),
        "delivered": data["delivered"],
        "latency_ms": data["latency_ms"],
        "status_code": status if isinstance(status, int) else None,
        "error": _text(data, "error", 1024, required=False),
        "response": _text(data, "response", 2048, required=False),
        "pause_reason": _text(data, "pause_reason", 1024, required=False),
    }
    if not data["delivered"]:
        attempt["next_attempt_at"] = _when(data, "next_attempt_at").isoformat()
    return attempt


@routes.post("/internal/webhooks/attempts")
async def attempts_record(request: web.Request) -> web.Response:
    """``{"holder", "attempts": [{"delivery_id", "attempted_at", "delivered", "latency_ms",
    "status_code"?, "error"?, "response"?, "next_attempt_at"?, "pause_reason"?}]}``: attempts
    of several deliveries, recorded in one transaction."""
    data = await _json(request)
    holder = _text(data, "holder", 128) or ""
    batch = data.get("attempts")
    if not isinstance(batch, list) or not 1 <= len(batch) <= 1000:
        raise Invalid("attempts must be a list of 1 to 1000 attempts")
    checked = []
    for item in batch:
        if not isinstance(item, dict) or not isinstance(item.get("delivery_id"), int):
            raise Invalid("each attempt must be an object with its delivery_id")
        checked.append((item["delivery_id"], _attempt(item)))
    async with request.app[SESSIONS]() as session, session.begin():
        results = [
            await deliveries.record_attempt(session, delivery_id, holder, attempt)
            for delivery_id, attempt in checked
        ]
    return web.json_response({"deliveries": results})


@routes.post("/internal/webhooks/housekeeping")
async def housekeeping(request: web.Request) -> web.Response:
    """``{"delivered_before", "events_before", "limit"}`` → how many deliveries, attempts and
    events were removed (see :func:`.retention.prune`; the caller repeats while any were)."""
    data = await _json(request)
    limit = data.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 10_000:
        raise Invalid("limit must be between 1 and 10000")
    delivered_before = _when(data, "delivered_before")
    events_before = _when(data, "events_before")
    async with request.app[SESSIONS]() as session, session.begin():
        pruned = await retention.prune(session, delivered_before, events_before, limit)
    return web.json_response(pruned)
