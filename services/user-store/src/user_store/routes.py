"""The user-store's HTTP API: the internal API (other services) and the admin API.

The internal API (``/internal/...``) is not read-only: besides the reads here it takes replay
claims (:mod:`user_store.replay`), the tenant's ``sso`` settings (:mod:`user_store.sso_settings`)
and the reconciler's lease, runs, state and settings (:mod:`user_store.reconciler_state`).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError
from roster_shared.filters import GroupPage, ListQuery, UserPage
from roster_shared.observability import reference_id
from roster_shared.service import Catch, error_middleware, internal_error_json
from roster_shared.tenants import ProvisioningMode, TenantPolicy
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from user_store import hot_reads, path_params, queries, tenants, token_reads
from user_store.bodies import json_object
from user_store.errors import Invalid, Unauthorized, UnknownTenant, UserStoreError
from user_store.keys import (
    ADMIN_TOKEN,
    CURSORS,
    INTERNAL_TOKEN,
    LOOP_READS,
    READ_ENGINE,
    READ_SESSIONS,
    SESSIONS,
)
from user_store.loop_reads import OnDemand

log = logging.getLogger(__name__)

DATABASE_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # connection refused or reset (asyncpg raises these as they are)
    sqlalchemy_exc.OperationalError,  # the DBAPI's own "cannot connect" / "server closed"
    sqlalchemy_exc.InterfaceError,
    sqlalchemy_exc.TimeoutError,  # no connection free in the pool in time
)
"""Failures that mean the database did not answer, not that the request was wrong."""


def _json(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(model, BaseModel):
        body = model.model_dump_json()
    else:
        body = json.dumps(
            [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
            if isinstance(model, list)
            else model
        )
    return web.Response(text=body, status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > 1_048_576:
        raise Invalid("request body too large")
    return json_object(await request.read())


def _check_bearer(request: web.Request, expected: str | None) -> None:
    if expected is None:
        return
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("a valid bearer credential is required")


def _sessions(request: web.Request) -> async_sessionmaker[AsyncSession]:
    return request.app[SESSIONS]


def _reads(request: web.Request) -> async_sessionmaker[AsyncSession]:
    """Autocommit sessions: a read costs its statements only (``db.read_session_factory``)."""
    return request.app[READ_SESSIONS]


# -- internal API: reads --------------------------------------------------------------------

internal = web.RouteTableDef()


@internal.get("/internal/tenants/{ref}")
async def tenant_lookup(request: web.Request) -> web.Response:
    """A tenant by id or slug: one statement on a bare connection (sso-login asks it on every
    login step, so no ORM session)."""
    ref = request.match_info["ref"]
    async with OnDemand(request.app[READ_ENGINE]) as connection:
        found = await hot_reads.tenant(connection, ref, request.app[LOOP_READS])
    if found is None:
        raise UnknownTenant(f"no tenant {ref!r}")
    return _json(found)


@internal.post("/internal/tenants/{ref}/tokens/verify")
async def token_verify(request: web.Request) -> web.Response:
    """The tenant if the token is one of its live SCIM tokens; 401 otherwise."""
    token = (await _body(request)).get("token")
    if not isinstance(token, str):
        raise Invalid("token must be a string")
    return _json(await token_reads.verified(request.app, request.match_info["ref"], token))


@internal.get("/internal/tenants/{tenant_id}/users/{user_id}")
async def user_get(request: web.Request) -> web.Response:
    """One user."""
    async with _reads(request)() as session:
        return _json(
            await queries.get_user(
                session, request.match_info["tenant_id"], request.match_info["user_id"]
            )
        )


def _query(data: dict[str, Any]) -> ListQuery:
    try:
        return ListQuery.model_validate(data)
    except ValidationError as exc:
        raise Invalid(f"invalid query: {exc.errors()[0]['msg']}") from exc


@internal.post("/internal/tenants/{tenant_id}/users/query")
async def user_list(request: web.Request) -> web.Response:
    """A filtered, sorted page of users."""
    query = _query(await _body(request))
    async with _reads(request)() as session:
        total, items, cursor = await queries.list_users(
            session, request.match_info["tenant_id"], query, cursors=request.app[CURSORS]
        )
    return _json(
        UserPage(total=total, start_index=query.start_index, items=tuple(items), next_cursor=cursor)
    )


@internal.get("/internal/tenants/{tenant_id}/groups/{group_id}")
async def group_get(request: web.Request) -> web.Response:
    """One group (``?members=false`` leaves its members out)."""
    members = request.query.get("members", "true").lower() != "false"
    async with _reads(request)() as session:
        return _json(
            await queries.get_group(
                session,
                request.match_info["tenant_id"],
                request.match_info["group_id"],
                members=members,
            )
        )


@internal.post("/internal/tenants/{tenant_id}/groups/query")
async def group_list(request: web.Request) -> web.Response:
    """A filtered, sorted page of groups (``?members=false`` leaves members out)."""
    query = _query(await _body(request))
    members = request.query.get("members", "true").lower() != "false"
    async with _reads(request)() as session:
        total, items, cursor = await queries.list_groups(
            session,
            request.match_info["tenant_id"],
            query,
            cursors=request.app[CURSORS],
            members=members,
        )
    return _json(
        GroupPage(
            total=total, start_index=query.start_index, items=tuple(items), next_cursor=cursor
        )
    )


# -- admin API -----------------------------------------------------------------------------

admin = web.RouteTableDef()


def _mode(value: Any) -> ProvisioningMode:
    try:
        return ProvisioningMode(value)
    except ValueError as exc:
        raise Invalid(
            f"mode must be one of {', '.join(m.value for m in ProvisioningMode)}"
        ) from exc


@admin.get("/admin/tenants")
async def admin_list(request: web.Request) -> web.Response:
    """Every tenant."""
    async with _sessions(request)() as session:
        return _json(await tenants.list_tenants(session))


@admin.post("/admin/tenants")
async def admin_create(request: web.Request) -> web.Response:
    """Create a tenant: ``{"slug", "mode", "display_name"?}``."""
    data = await _body(request)
    slug = data.get("slug")
    if not isinstance(slug, str):
        raise Invalid("slug is required")
    async with _sessions(request)() as session, session.begin():
        tenant = await tenants.create_tenant(
            session,
            slug,
            _mode(data.get("mode", "scim+jit")),
            display_name=data.get("display_name"),
        )
    return _json(tenant, status=201)


@admin.get("/admin/tenants/{ref}")
async def admin_show(request: web.Request) -> web.Response:
    """One tenant with its tokens (never their secrets)."""
    async with _sessions(request)() as session:
        tenant = await tenants.get_tenant(session, request.match_info["ref"])
        tokens = await tenants.list_tokens(session, tenant.id)
    return _json(
        {**tenant.model_dump(mode="json"), "tokens": [t.model_dump(mode="json") for t in tokens]}
    )


@admin.patch("/admin/tenants/{ref}")
async def admin_update(request: web.Request) -> web.Response:
    """Change ``mode`` and/or ``policy``."""
    data = await _body(request)
    mode = _mode(data["mode"]) if "mode" in data else None
    try:
        policy = TenantPolicy.model_validate(data["policy"]) if "policy" in data else None
    except ValidationError as exc:
        raise Invalid(f"invalid policy: {exc.errors()[0]['msg']}") from exc
    async with _sessions(request)() as session, session.begin():
        tenant = await tenants.update_tenant(
            session, request.match_info["ref"], mode=mode, policy=policy
        )
    return _json(tenant)


@admin.post("/admin/tenants/{ref}/tokens")
async def admin_token_create(request: web.Request) -> web.Response:
    """A new SCIM token; the response is the only place its secret appears."""
    label = (await _body(request)).get("label") if request.can_read_body else None
    async with _sessions(request)() as session, session.begin():
        issued = await tenants.issue_token(
            session, request.match_info["ref"], label=label if isinstance(label, str) else None
        )
    return _json(issued, status=201)


@admin.delete("/admin/tenants/{ref}/tokens/{token_id}")
async def admin_token_revoke(request: web.Request) -> web.Response:
    """Revoke a SCIM token."""
    async with _sessions(request)() as session, session.begin():
        info = await tenants.revoke_token(
            session, request.match_info["ref"], request.match_info["token_id"]
        )
    return _json(info)


@web.middleware
async def credentials_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The admin and the internal API each require their bearer credential (inside
    :data:`errors_middleware`, which answers a refusal)."""
    if request.path.startswith("/admin/"):
        _check_bearer(request, request.app[ADMIN_TOKEN])
        path_params.check(request)
    elif request.path.startswith("/internal/"):
        _check_bearer(request, request.app[INTERNAL_TOKEN])
        path_params.check(request)
    return await handler(request)


def _user_store_error(_request: web.Request, error: UserStoreError) -> web.Response:
    body: dict[str, Any] = {"error": error.error, "detail": error.detail}
    if error.existing_id:
        body["existing_id"] = error.existing_id
    return web.json_response(body, status=error.status)


UNREACHABLE_ERROR = "unavailable"
UNREACHABLE_DETAIL = "the database is not answering"


def unreachable_reference(path: str, exc: BaseException) -> str:
    """Log a :data:`DATABASE_UNREACHABLE` failure; the reference its answer quotes."""
    reference = reference_id()
    log.warning(
        "database unreachable",
        extra={"reference": reference, "path": path, "error": str(exc)[:300]},
    )
    return reference


def _database_unreachable(request: web.Request, exc: BaseException) -> web.Response:
    # The database is down or unreachable: nothing the caller sent is wrong, so it may
    # retry (scim-api answers the IdP 503 with Retry-After, not a 500 that looks final).
    reference = unreachable_reference(request.path, exc)
    return web.json_response(
        {"error": UNREACHABLE_ERROR, "detail": UNREACHABLE_DETAIL, "reference": reference},
        status=503,
        headers={"Retry-After": "5"},
    )


errors_middleware = error_middleware(
    Catch(UserStoreError, _user_store_error),
    Catch(DATABASE_UNREACHABLE, _database_unreachable),
    internal=internal_error_json,
    log=log,
)
"""The one place exceptions become responses (aiohttp's HTTP exceptions pass through)."""
