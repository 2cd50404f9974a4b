"""``/Users`` (RFC 7644 §3.3-3.6): list, search, create, read, replace, patch, delete."""

from __future__ import annotations

from aiohttp import web
from roster_shared.events.people import UserSnapshot
from roster_shared.filters import ListQuery
from roster_shared.ids import is_id

from scim_api.messages.list_response import list_response
from scim_api.messages.projection import project, requested
from scim_api.messages.search_request import ListRequest
from scim_api.resources import Resource, etag, normalise, user_attributes, user_resource
from scim_api.resources.schemas import user_schema
from scim_api.service import addressable
from scim_api.views.base import ScimView, created, not_modified_response, scim_json


async def user_page(
    view: ScimView, listing: ListRequest, query: ListQuery | None = None
) -> tuple[int, list[Resource], str | None]:
    """``(totalResults, the page's Users as the request shapes them, next cursor)``; ``query``
    overrides the request's paging (a search across resource types pages for itself)."""
    page = await view.service.users(view.call, query or listing.query)
    return page.total, _resources(view, listing, page.items), page.next_cursor


def _resources(
    view: ScimView, listing: ListRequest, users: tuple[UserSnapshot, ...]
) -> list[Resource]:
    schema = user_schema()
    return [
        project(schema, user_resource(u, view.call.base), listing.attributes, listing.excluded)
        for u in users
    ]


async def _page(view: ScimView, listing: ListRequest) -> web.Response:
    total, resources, cursor = await user_page(view, listing)
    return scim_json(list_response(listing, total, resources, cursor))


class UsersView(ScimView):
    """``/Users``."""

    token_checked_get = True

    async def get(self) -> web.Response:
        """List and filter users (an IdP's ``userName eq`` lookup): the token is checked in
        the same internal request as the read."""
        ref, token = self.presented()
        try:
            listing = ListRequest(user_schema(), dict(self.request.query))
        except Exception:
            await self.authenticate()  # 401 comes before anything about the request
            raise
        read = await self.service.token_users(ref, token, listing.query)
        self.accept(read.tenant)
        page = read.page
        resources = _resources(self, listing, page.items)
        return scim_json(list_response(listing, page.total, resources, page.next_cursor))

    async def post(self) -> web.Response:
        """Create a user (or adopt the one a JIT login made: docs/design.md, rule 3)."""
        body = await self.json_object()
        attributes = user_attributes(normalise(user_schema(), body))
        reply = await self.service.upsert_user(self.call, attributes)
        assert reply.user is not None
        return created(user_resource(reply.user, self.call.base), reply.user.version)


class UsersSearchView(ScimView):
    """``/Users/.search`` (RFC 7644 §3.4.3): the query in the body."""

    async def post(self) -> web.Response:
        """List and filter users."""
        return await _page(self, ListRequest.search(user_schema(), await self.json_object()))


class UserView(ScimView):
    """``/Users/{id}``: one user."""

    token_checked_get = True

    @property
    def user_id(self) -> str:
        """The id in the path (checked by the use cases before it goes anywhere)."""
        return self.request.match_info["id"]

    def _respond(self, snapshot: UserSnapshot) -> web.Response:
        attributes, excluded = requested(self.request.query)
        resource = project(
            user_schema(), user_resource(snapshot, self.call.base), attributes, excluded
        )
        return scim_json(resource, headers={"ETag": etag(snapshot.version)})

    async def get(self) -> web.Response:
        """Read it (304 when ``If-None-Match`` holds its version); the token is checked in
        the same internal request as the read."""
        ref, token = self.presented()
        if not is_id(self.user_id):
            await self.authenticate()  # 401 comes before anything about the request
            addressable("user", self.user_id)
        read = await self.service.token_user(ref, token, self.user_id)
        self.accept(read.tenant)
        snapshot = read.user
        if self.not_modified(snapshot.version):
            return not_modified_response(snapshot.version)
        return self._respond(snapshot)

    async def put(self) -> web.Response:
        """Replace it."""
        replacement = user_attributes(normalise(user_schema(), await self.json_object()))
        reply = await self.service.upsert_user(
            self.call, replacement, target_id=self.user_id, expected_version=self.if_match()
        )
        assert reply.user is not None
        return self._respond(reply.user)

    async def patch(self) -> web.Response:
        """Change it by a PatchOp (RFC 7644 §3.5.2)."""
        body = await self.json_body()
        snapshot = await self.service.patch_user(self.call, self.user_id, body, self.if_match())
        return self._respond(snapshot)

    async def delete(self) -> web.Response:
        """Delete it."""
        await self.service.delete_user(self.call, self.user_id, self.if_match())
        return web.Response(status=204)
