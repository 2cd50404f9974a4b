"""The SCIM endpoint's routes (RFC 7644 §3), relative to ``/scim``: each path to its view.

aiohttp matches in the order routes are added, so a fixed segment (``/Users/.search``) comes
before the ``{id}`` that would also match it, and the catch-alls come last.

Endpoint names match in any case and with a trailing slash (``/users``, ``/Users/?filter=``):
RFC 7644 names them in one spelling, but clients and vendor test suites send others, and an
answer of 404 to a path that can only mean one endpoint helps nobody (docs/interop.md).
"""

from __future__ import annotations

import re

from aiohttp import web

from scim_api.views.bulk import BulkView
from scim_api.views.discovery import ResourceTypesView, SchemasView, ServiceProviderConfigView
from scim_api.views.groups import GroupsSearchView, GroupsView, GroupView
from scim_api.views.search import RootSearchView
from scim_api.views.unserved import me, no_tenant, unknown
from scim_api.views.users import UsersSearchView, UsersView, UserView

routes = web.RouteTableDef()
"""What ``create_app`` adds to the SCIM application."""

_SLASH = "{_slash:/?}"


def _path(*segments: str) -> str:
    """``/v2/{tenant}/`` then each fixed segment matched case-insensitively (a ``{...}``
    placeholder kept as is), then an optional trailing slash."""
    parts = [
        seg if seg.startswith("{") else f"{{_{i}:(?i:{re.escape(seg)})}}"
        for i, seg in enumerate(segments)
    ]
    return "/v2/{tenant}/" + "/".join(parts) + _SLASH


routes.view(_path("Users"))(UsersView)
routes.view(_path("Users", ".search"))(UsersSearchView)
routes.view(_path("Users", "{id}"))(UserView)
routes.view(_path("Groups"))(GroupsView)
routes.view(_path("Groups", ".search"))(GroupsSearchView)
routes.view(_path("Groups", "{id}"))(GroupView)
routes.view(_path("ServiceProviderConfig"))(ServiceProviderConfigView)
routes.view(_path("Schemas"))(SchemasView)
routes.view(_path("Schemas", "{id}"))(SchemasView)
routes.view(_path("ResourceTypes"))(ResourceTypesView)
routes.view(_path("ResourceTypes", "{id}"))(ResourceTypesView)
routes.view(_path("Bulk"))(BulkView)
routes.view(_path(".search"))(RootSearchView)
# Any method: these refuse whatever is asked of them.
routes.route("*", _path("Me"))(me)
routes.route("*", "/v2/{tenant}/{_me:(?i:me)}/{rest:.*}")(me)
routes.route("*", "/v2/{tenant}")(unknown)
routes.route("*", "/v2/{tenant}/{rest:.*}")(unknown)
routes.route("*", "/v2")(no_tenant)
routes.route("*", "/v2/")(no_tenant)
