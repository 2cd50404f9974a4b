"""The reconciler's HTTP API (mounted at ``/reconciler``): the advice, runs, approvals."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from reconciler.advice import Requirements, advise
from reconciler.errors import Invalid
from reconciler.policy import ReconcilerPolicy

routes = web.RouteTableDef()


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object."""
    try:
        data = await request.json()
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
    """The provisioning-mode advice: ``{"requirements": {...}, "policy": {...}?}`` or the
    requirements alone."""
    data = await body(request)
    try:
        requirements = Requirements.model_validate(data.get("requirements", data))
        policy = ReconcilerPolicy.model_validate(data.get("policy") or {})
    except ValidationError as exc:
        raise Invalid(f"invalid request: {exc.errors()[0]['msg']}") from exc
    return json_response(advise(requirements, policy))
