"""What the SCIM endpoint does not serve, refused in SCIM's error format. Every path under a
tenant is authenticated first, so an unauthenticated client cannot map the endpoint."""

from __future__ import annotations

from aiohttp import web

from scim_api.errors import NotFound, NotImplementedYet
from scim_api.views.base import authenticated


async def me(request: web.Request) -> web.Response:
    """``/Me`` (RFC 7644 §3.11): a SCIM token is a tenant's, not a person's, so no "me"."""
    await authenticated(request)
    raise NotImplementedYet("/Me is not supported: SCIM tokens belong to a tenant, not a user")


async def unknown(request: web.Request) -> web.Response:
    """Any other path under a tenant: authenticated, then not found."""
    await authenticated(request)
    raise NotFound(f"no SCIM endpoint {request.path}")


async def no_tenant(request: web.Request) -> web.Response:
    """The SCIM base URL names a tenant."""
    raise NotFound("the SCIM base URL is /scim/v2/{tenant}/")
