"""The tenant's ``sso`` settings section, set by sso-login's admin API through the internal API.

sso-login validates connections (it owns their model); the user-store only stores the section,
as it does the reconciler's (``reconciler_state``).
"""

from __future__ import annotations

from aiohttp import web

from user_store import tenants
from user_store.bodies import json_object
from user_store.errors import Invalid
from user_store.keys import SESSIONS

routes = web.RouteTableDef()


@routes.put("/internal/tenants/{ref}/settings/sso")
async def sso_settings_put(request: web.Request) -> web.Response:
    """Replace the tenant's ``sso`` section with the body (a JSON object); the tenant back."""
    if request.content_length is not None and request.content_length > 1_048_576:
        raise Invalid("request body too large")
    value = json_object(await request.read())
    async with request.app[SESSIONS]() as session, session.begin():
        tenant = await tenants.update_tenant(
            session, request.match_info["ref"], settings={"sso": value}
        )
    return web.Response(text=tenant.model_dump_json(), content_type="application/json")
