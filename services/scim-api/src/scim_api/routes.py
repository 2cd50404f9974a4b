"""Thin HTTP handlers of the SCIM endpoint. Paths are relative to the mount point ``/scim``."""

from __future__ import annotations

import json

from aiohttp import web
from roster_shared.tenants import TenantInfo

from scim_api.auth import authenticate
from scim_api.discovery import service_provider_config
from scim_api.errors import SCIM_JSON, MethodNotAllowed, NotFound, NotImplementedYet
from scim_api.keys import USER_STORE

routes = web.RouteTableDef()


async def _authenticated(request: web.Request) -> TenantInfo:
    return await authenticate(
        request.app[USER_STORE], request.match_info["tenant"], request.headers.get("Authorization")
    )


def _scim_json(data: object, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type=SCIM_JSON)


@routes.route("*", "/v2/{tenant}/ServiceProviderConfig")
async def service_provider_config_get(request: web.Request) -> web.Response:
    """RFC 7644 §4: the features this endpoint supports."""
    await _authenticated(request)
    if request.method not in ("GET", "HEAD"):
        raise MethodNotAllowed("ServiceProviderConfig is read-only", ("GET",))
    return _scim_json(service_provider_config(str(request.url.with_query(None))))


@routes.route("*", "/v2/{tenant}")
@routes.route("*", "/v2/{tenant}/{rest:.*}")
async def not_implemented(request: web.Request) -> web.Response:
    """Every other SCIM endpoint of a tenant: authenticated, then refused as not served yet."""
    await _authenticated(request)
    raise NotImplementedYet(f"{request.method} {request.path} is not implemented yet")


@routes.route("*", "/v2")
@routes.route("*", "/v2/")
async def no_tenant(request: web.Request) -> web.Response:
    """The SCIM base URL names a tenant."""
    raise NotFound("the SCIM base URL is /scim/v2/{tenant}/")
