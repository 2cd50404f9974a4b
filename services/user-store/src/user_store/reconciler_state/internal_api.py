"""The reconciler's part of the user-store's internal API, under
``/internal/tenants/{ref}/reconciler``: the tenant list for its schedule, the user scan, the lease,
run records, the state document, and the tenant's ``reconciler`` and ``directory`` settings
sections. Reads and writes both: the reconciler never writes the database itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from roster_shared import bounded_json
from sqlalchemy.ext.asyncio import AsyncSession

from user_store import tenants
from user_store.db import as_utc
from user_store.errors import Invalid
from user_store.keys import SESSIONS
from user_store.reconciler_state.storage import (
    acquire_lease,
    get_run,
    get_state,
    list_runs,
    put_state,
    release_lease,
    save_run,
    scan_users,
)

SECTIONS = ("reconciler", "directory")
"""Tenant settings sections the reconciler may set through the internal API."""

routes = web.RouteTableDef()
PREFIX = "/internal/tenants/{ref}/reconciler"


MAX_RECORD = 64 * 1_048_576
"""A run record lists every decision: 10,000 deactivations take a few megabytes, more than the
application's general 1 MiB limit, so these routes read the body under a limit of their own."""


async def _json(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_RECORD:
        raise Invalid("request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > MAX_RECORD:
            raise Invalid("request body too large")
        chunks.append(chunk)
    try:
        return bounded_json.loads(b"".join(chunks))
    except bounded_json.TooDeep as exc:
        raise Invalid(f"the body is refused: {exc}") from exc
    except ValueError as exc:
        raise Invalid("the body is not valid JSON") from exc


async def _tenant_id(session: AsyncSession, request: web.Request) -> str:
    return (await tenants.find_tenant_row(session, request.match_info["ref"])).id


@routes.get("/internal/reconciler/tenants")
async def tenant_list(request: web.Request) -> web.Response:
    """Every tenant, for the reconciler's schedule."""
    async with request.app[SESSIONS]() as session:
        found = await tenants.list_tenants(session)
    return web.json_response({"tenants": [t.model_dump(mode="json") for t in found]})


@routes.get(PREFIX + "/users")
async def users_scan(request: web.Request) -> web.Response:
    """Every live user, lean, for a run: ``?limit=5000&after=<cursor>``; the answer's ``next``
    is the cursor of the following page (absent on the last)."""
    try:
        limit = min(max(int(request.query.get("limit", "5000")), 1), 10_000)
        after = None
        if "after" in request.query:
            created, _, last_id = request.query["after"].partition("|")
            after = (as_utc(datetime.fromisoformat(created)), last_id)
    except ValueError as exc:
        raise Invalid("limit must be a number and after a cursor from a previous page") from exc
    async with request.app[SESSIONS]() as session:
        items, following = await scan_users(
            session, await _tenant_id(session, request), after=after, limit=limit
        )
    body: dict[str, Any] = {"users": items}
    if following is not None:
        body["next"] = f"{following[0].isoformat()}|{following[1]}"
    return web.json_response(body)


@routes.post(PREFIX + "/lease")
async def lease_acquire(request: web.Request) -> web.Response:
    """``{"holder", "ttl_seconds"}`` → ``{"acquired", "holder", "expires_at"}``."""
    data = await _json(request)
    holder = data.get("holder") if isinstance(data, dict) else None
    ttl = data.get("ttl_seconds") if isinstance(data, dict) else None
    if not isinstance(holder, str) or not 1 <= len(holder) <= 128:
        raise Invalid("holder must be a string of 1 to 128 characters")
    if not isinstance(ttl, int | float) or not 1 <= ttl <= 3600:
        raise Invalid("ttl_seconds must be between 1 and 3600")
    async with request.app[SESSIONS]() as session, session.begin():
        acquired, current, expires = await acquire_lease(
            session, await _tenant_id(session, request), holder, timedelta(seconds=ttl)
        )
    return web.json_response(
        {"acquired": acquired, "holder": current, "expires_at": expires.isoformat()}
    )


@routes.delete(PREFIX + "/lease/{holder}")
async def lease_release(request: web.Request) -> web.Response:
    """Release the lease if the caller holds it."""
    async with request.app[SESSIONS]() as session, session.begin():
        released = await release_lease(
            session, await _tenant_id(session, request), request.match_info["holder"]
        )
    return web.json_response({"released": released})


@routes.put(PREFIX + "/runs/{run_id}")
async def run_put(request: web.Request) -> web.Response:
    """Store a run record (the body is the record)."""
    record = await _json(request)
    if not isinstance(record, dict) or record.get("id") != request.match_info["run_id"]:
        raise Invalid("the body must be the run record with the same id")
    async with request.app[SESSIONS]() as session, session.begin():
        await save_run(session, await _tenant_id(session, request), record)
    return web.json_response(record)


@routes.get(PREFIX + "/runs")
async def run_list(request: web.Request) -> web.Response:
    """The latest runs (``?limit=20&status=held``)."""
    try:
        limit = min(max(int(request.query.get("limit", "20")), 1), 500)
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    async with request.app[SESSIONS]() as session:
        runs = await list_runs(
            session,
            await _tenant_id(session, request),
            limit=limit,
            status=request.query.get("status"),
        )
    return web.json_response({"runs": runs})


@routes.get(PREFIX + "/runs/{run_id}")
async def run_get(request: web.Request) -> web.Response:
    """One run record."""
    async with request.app[SESSIONS]() as session:
        record = await get_run(
            session, await _tenant_id(session, request), request.match_info["run_id"]
        )
    return web.json_response(record)


@routes.get(PREFIX + "/state")
async def state_get(request: web.Request) -> web.Response:
    """The state document."""
    async with request.app[SESSIONS]() as session:
        return web.json_response(await get_state(session, await _tenant_id(session, request)))


@routes.put(PREFIX + "/state")
async def state_put(request: web.Request) -> web.Response:
    """Replace the state document."""
    state = await _json(request)
    if not isinstance(state, dict):
        raise Invalid("the state must be a JSON object")
    async with request.app[SESSIONS]() as session, session.begin():
        await put_state(session, await _tenant_id(session, request), state)
    return web.json_response(state)


@routes.put(PREFIX + "/settings/{section}")
async def settings_put(request: web.Request) -> web.Response:
    """Set the tenant's ``reconciler`` or ``directory`` settings section (the body)."""
    section = request.match_info["section"]
    if section not in SECTIONS:
        raise Invalid(f"section must be one of {', '.join(SECTIONS)}")
    value = await _json(request)
    if not isinstance(value, dict):
        raise Invalid("the section must be a JSON object")
    async with request.app[SESSIONS]() as session, session.begin():
        tenant = await tenants.update_tenant(
            session, request.match_info["ref"], settings={section: value}
        )
    return web.Response(text=tenant.model_dump_json(), content_type="application/json")
