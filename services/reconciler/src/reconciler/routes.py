"""The reconciler's HTTP API (mounted at ``/reconciler``): the advice, runs, approvals."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import ValidationError
from roster_shared import bounded_json
from roster_shared.ids import is_id, is_tenant_ref

from reconciler.advice import Requirements, advise
from reconciler.credentials import CredentialError, Vault
from reconciler.errors import Invalid, NotConfigured, NotFound, Unauthorized
from reconciler.keys import ADMIN_TOKEN, RECONCILER, VAULT
from reconciler.policy import (
    DEFAULT_SESSION_MAX_AGE,
    DEFAULT_URLS,
    DIRECTORY_SECTION,
    POLICY_SECTION,
    DirectoryConfig,
    ReconcilerPolicy,
)
from reconciler.records import RunRecord

routes = web.RouteTableDef()


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object."""
    try:
        data = await request.json(loads=bounded_json.loads)
    except bounded_json.TooDeep as exc:
        raise Invalid(f"the body is refused: {exc}") from exc
    except ValueError as exc:
        raise Invalid("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    return data


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON out (pydantic models are dumped in JSON mode)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


@routes.post("/advise")
async def advise_route(request: web.Request) -> web.Response:
    """The provisioning-mode advice: ``{"requirements": {...}, "policy": {...}?,
    "session_max_age_seconds": int?}`` or the requirements alone."""
    data = await body(request)
    try:
        requirements = Requirements.model_validate(data.get("requirements", data))
        policy = ReconcilerPolicy.model_validate(data.get("policy") or {})
    except ValidationError as exc:
        raise Invalid(f"invalid request: {exc.errors()[0]['msg']}") from exc
    session = data.get("session_max_age_seconds", DEFAULT_SESSION_MAX_AGE)
    if not isinstance(session, int) or session < 60:
        raise Invalid("session_max_age_seconds must be a number of seconds (at least 60)")
    return json_response(advise(requirements, policy, session_max_age=session))


# -- tenants: runs, approvals, directory, policy (admin credential) --------------------------


def _check_admin(request: web.Request) -> None:
    expected = request.app[ADMIN_TOKEN]
    if expected is None:
        raise Unauthorized("the reconciler's admin API is closed (ROSTER_ADMIN_TOKEN is not set)")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("a valid bearer credential is required")


def _tenant(request: web.Request) -> str:
    """The tenant slug or id of the path, checked for its form before it goes anywhere."""
    _check_admin(request)
    ref = request.match_info["tenant"]
    if not is_tenant_ref(ref):
        raise NotFound("no tenant of that name or id")
    return ref


def _run_id(request: web.Request) -> str:
    """The run id of the path: runs have ids in the form ``new_id`` mints."""
    run_id = request.match_info["run_id"]
    if not is_id(run_id):
        raise NotFound("no run with that id: it is not an id")
    return run_id


@routes.get("/tenants/{tenant}/runs")
async def runs_list(request: web.Request) -> web.Response:
    """The latest run records (``?limit=20&status=held``)."""
    tenant = await request.app[RECONCILER].tenant(_tenant(request))
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError as exc:
        raise Invalid("limit must be a number") from exc
    runs = await request.app[RECONCILER].store.runs(
        tenant.id, limit=limit, status=request.query.get("status")
    )
    return json_response({"runs": runs})


@routes.get("/tenants/{tenant}/runs/{run_id}")
async def runs_get(request: web.Request) -> web.Response:
    """One run record."""
    ref, run_id = _tenant(request), _run_id(request)
    tenant = await request.app[RECONCILER].tenant(ref)
    return json_response(await request.app[RECONCILER].store.run(tenant.id, run_id))


@routes.post("/tenants/{tenant}/runs")
async def runs_start(request: web.Request) -> web.Response:
    """Run now: ``{"dry_run": false}``; answers with the run record when it ends."""
    ref = _tenant(request)
    data = await body(request) if request.can_read_body else {}
    record = await request.app[RECONCILER].run(ref, dry_run=bool(data.get("dry_run", False)))
    return json_response(record, status=201)


@routes.post("/tenants/{tenant}/runs/{run_id}/approve")
async def runs_approve(request: web.Request) -> web.Response:
    """Carry out a run the brake held: ``{"by": "admin name"}``."""
    return await _decide(request, request.app[RECONCILER].approve)


@routes.post("/tenants/{tenant}/runs/{run_id}/reject")
async def runs_reject(request: web.Request) -> web.Response:
    """Drop a run the brake held: ``{"by": "admin name"}``."""
    return await _decide(request, request.app[RECONCILER].reject)


async def _decide(
    request: web.Request, decision: Callable[..., Awaitable[RunRecord]]
) -> web.Response:
    """An admin's decision on a held run, recorded with who made it (``admin`` if unnamed)."""
    ref, run_id = _tenant(request), _run_id(request)
    data = await body(request) if request.can_read_body else {}
    return json_response(await decision(ref, run_id, by=str(data.get("by") or "admin")))


@routes.put("/tenants/{tenant}/directory")
async def directory_put(request: web.Request) -> web.Response:
    """Connect the tenant's directory: ``{"kind", "url"?, "token"}`` (the token is stored
    encrypted and never shown again)."""
    ref = _tenant(request)
    data = await body(request)
    config = directory_config(
        request.app[VAULT], str(data.get("kind", "")), data.get("url"), data.get("token")
    )
    tenant = await request.app[RECONCILER].store.put_settings(
        ref, DIRECTORY_SECTION, config.model_dump()
    )
    return json_response({"tenant": tenant.slug, "kind": config.kind, "url": config.url})


@routes.put("/tenants/{tenant}/policy")
async def policy_put(request: web.Request) -> web.Response:
    """Set the tenant's reconciler policy (fields not given take their defaults)."""
    ref = _tenant(request)
    try:
        policy = ReconcilerPolicy.model_validate(await body(request))
    except ValidationError as exc:
        raise Invalid(f"invalid policy: {exc.errors()[0]['msg']}") from exc
    await request.app[RECONCILER].store.put_settings(
        ref, POLICY_SECTION, policy.model_dump(mode="json")
    )
    return json_response(policy)


def directory_config(vault: Vault, kind: str, url: Any, token: Any) -> DirectoryConfig:
    """A directory connector's settings, the token encrypted; the vendor's URL by default."""
    if kind not in DEFAULT_URLS:
        raise Invalid(f"kind must be one of {', '.join(DEFAULT_URLS)}")
    if not isinstance(token, str) or not token:
        raise Invalid("token is required")
    base = url if isinstance(url, str) and url else DEFAULT_URLS[kind]
    if not base.startswith(("https://", "http://")):
        raise Invalid(f"--url is required for {kind} (the API base, https://...)")
    host = urlsplit(base).hostname or ""
    if base.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        # The token travels with every request: plain HTTP only to this machine (tests).
        raise Invalid(f"{base}: use https:// (the directory token would travel in the clear)")
    try:
        return DirectoryConfig(kind=kind, url=base, token=vault.encrypt(token))
    except CredentialError as exc:
        raise NotConfigured(str(exc)) from exc
