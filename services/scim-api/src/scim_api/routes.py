"""The SCIM endpoint's routes (RFC 7644 §3), relative to ``/scim``: each path to its view.

aiohttp matches in the order routes are added, so a fixed segment (``/Users/.search``) comes
before the ``{id}`` that would also match it, and the catch-alls come last.
"""

from __future__ import annotations

from aiohttp import web

from scim_api.views.bulk import BulkView
from scim_api.views.discovery import ResourceTypesView, SchemasView, ServiceProviderConfigView
from scim_api.views.groups import GroupsSearchView, GroupsView, GroupView
from scim_api.views.unserved import RootSearchView, me, no_tenant, unknown
from scim_api.views.users import UsersSearchView, UsersView, UserView

routes = web.RouteTableDef()
"""What ``create_app`` adds to the SCIM application."""

routes.view("/v2/{tenant}/Users")(UsersView)
routes.view("/v2/{tenant}/Users/.search")(UsersSearchView)
routes.view("/v2/{tenant}/Users/{id}")(UserView)
routes.view("/v2/{tenant}/Groups")(GroupsView)
routes.view("/v2/{tenant}/Groups/.search")(GroupsSearchView)
routes.view("/v2/{tenant}/Groups/{id}")(GroupView)
routes.view("/v2/{tenant}/ServiceProviderConfig")(ServiceProviderConfigView)
routes.view("/v2/{tenant}/Schemas")(SchemasView)
routes.view("/v2/{tenant}/Schemas/{id}")(SchemasView)
routes.view("/v2/{tenant}/ResourceTypes")(ResourceTypesView)
routes.view("/v2/{tenant}/ResourceTypes/{id}")(ResourceTypesView)
routes.view("/v2/{tenant}/Bulk")(BulkView)
routes.view("/v2/{tenant}/.search")(RootSearchView)
# Any method: these refuse whatever is asked of them.
routes.route("*", "/v2/{tenant}/Me")(me)
routes.route("*", "/v2/{tenant}/Me/{rest:.*}")(me)
routes.route("*", "/v2/{tenant}")(unknown)
routes.route("*", "/v2/{tenant}/{rest:.*}")(unknown)
routes.route("*", "/v2")(no_tenant)
routes.route("*", "/v2/")(no_tenant)
