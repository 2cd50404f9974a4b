"""Thin HTTP handlers of single sign-on. Paths are relative to the mount point ``/sso``.

Every path of the SSO interface (DESIGN.md, "Interfaces") is routed; until the SAML service
provider and the OIDC relying party land, each answers 501 for a known tenant and 404 otherwise.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from roster_shared.tenants import TenantInfo
from roster_shared.userstore_client import UserStoreClientError

from sso_login.errors import NotImplementedYet, Unavailable, UnknownTenant
from sso_login.keys import USER_STORE

routes = web.RouteTableDef()

TENANT_PATHS = (
    "/{tenant}/login",
    "/{tenant}/saml/login",
    "/{tenant}/saml/metadata",
    "/{tenant}/saml/acs",
    "/{tenant}/oidc/login",
    "/{tenant}/oidc/callback",
)


async def tenant_of(request: web.Request) -> TenantInfo:
    """The tenant named in the path, from the user-store."""
    slug = request.match_info["tenant"]
    try:
        return await request.app[USER_STORE].tenant(slug)
    except UserStoreClientError as exc:
        if exc.status == 404:
            raise UnknownTenant(f"There is no organisation called {slug!r}.") from exc
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable("Sign-in is unavailable right now; please try again.") from exc


async def not_implemented(request: web.Request) -> web.Response:
    """A known tenant's SSO endpoint that is not served yet."""
    await tenant_of(request)
    raise NotImplementedYet("Single sign-on is not implemented yet in this version of Roster.")


async def logout(_request: web.Request) -> web.Response:
    """Logout, once there are sessions to end."""
    raise NotImplementedYet("Single sign-on is not implemented yet in this version of Roster.")


for _path in TENANT_PATHS:
    routes.route("*", _path)(not_implemented)
routes.route("*", "/logout")(logout)
