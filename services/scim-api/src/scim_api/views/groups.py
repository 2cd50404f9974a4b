"""``/Groups`` (RFC 7644 §3.3-3.6): list, search, create, read, replace, patch, delete.

Members are the costly part of a group: they are read only when the response shows them.
"""

from __future__ import annotations

from aiohttp import web
from roster_shared.events.people import GroupSnapshot
from roster_shared.filters import ListQuery

from scim_api.messages.list_response import list_response
from scim_api.messages.projection import members_wanted, named, project, requested
from scim_api.messages.search_request import ListRequest
from scim_api.resources import Resource, etag, group_resource, normalise
from scim_api.resources.schemas import GROUP_SCHEMA, group_schema
from scim_api.views.base import ScimView, created, not_modified_response, scim_json


def _display(attributes: list[str] | None) -> bool:
    return named(attributes, "members.display", GROUP_SCHEMA)


async def group_page(
    view: ScimView, listing: ListRequest, query: ListQuery | None = None
) -> tuple[int, list[Resource], str | None]:
    """``(totalResults, the page's Groups as the request shapes them, next cursor)``;
    ``query`` overrides the request's paging (a search across resource types pages for
    itself)."""
    members = members_wanted(listing.attributes, listing.excluded)
    page = await view.service.groups(view.call, query or listing.query, members=members)
    schema = group_schema()
    resources = [
        project(
            schema,
            group_resource(
                g, view.call.base, members=members, display=_display(listing.attributes)
            ),
            listing.attributes,
            listing.excluded,
        )
        for g in page.items
    ]
    return page.total, resources, page.next_cursor


async def _page(view: ScimView, listing: ListRequest) -> web.Response:
    total, resources, cursor = await group_page(view, listing)
    return scim_json(list_response(listing, total, resources, cursor))


class GroupsView(ScimView):
    """``/Groups``."""

    async def get(self) -> web.Response:
        """List and filter groups."""
        return await _page(self, ListRequest(group_schema(), dict(self.request.query)))

    async def post(self) -> web.Response:
        """Create a group, with its members."""
        resource = normalise(group_schema(), await self.json_object())
        reply = await self.service.upsert_group(self.call, resource)
        assert reply.group is not None
        return created(group_resource(reply.group, self.call.base), reply.group.version)


class GroupsSearchView(ScimView):
    """``/Groups/.search`` (RFC 7644 §3.4.3): the query in the body."""

    async def post(self) -> web.Response:
        """List and filter groups."""
        return await _page(self, ListRequest.search(group_schema(), await self.json_object()))


class GroupView(ScimView):
    """``/Groups/{id}``: one group (a full replace replaces its members too)."""

    @property
    def group_id(self) -> str:
        """The id in the path (checked by the use cases before it goes anywhere)."""
        return self.request.match_info["id"]

    def _members(self) -> bool:
        return members_wanted(*requested(self.request.query))

    def _respond(self, snapshot: GroupSnapshot, members: bool) -> web.Response:
        attributes, excluded = requested(self.request.query)
        resource = group_resource(
            snapshot, self.call.base, members=members, display=_display(attributes)
        )
        return scim_json(
            project(group_schema(), resource, attributes, excluded),
            headers={"ETag": etag(snapshot.version)},
        )

    async def get(self) -> web.Response:
        """Read it (304 when ``If-None-Match`` holds its version)."""
        members = self._members()
        snapshot = await self.service.group(self.call, self.group_id, members=members)
        if self.not_modified(snapshot.version):
            return not_modified_response(snapshot.version)
        return self._respond(snapshot, members)

    async def put(self) -> web.Response:
        """Replace it."""
        members = self._members()
        resource = normalise(group_schema(), await self.json_object())
        reply = await self.service.upsert_group(
            self.call, resource, target_id=self.group_id, expected_version=self.if_match()
        )
        assert reply.group is not None
        return self._respond(reply.group, members)

    async def patch(self) -> web.Response:
        """Change it by a PatchOp (RFC 7644 §3.5.2)."""
        members = self._members()
        body = await self.json_body()
        snapshot = await self.service.patch_group(self.call, self.group_id, body, self.if_match())
        return self._respond(snapshot, members)

    async def delete(self) -> web.Response:
        """Delete it, and its memberships."""
        await self.service.delete_group(self.call, self.group_id, self.if_match())
        return web.Response(status=204)
