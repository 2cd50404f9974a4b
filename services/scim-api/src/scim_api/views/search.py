"""``POST /.search`` at the tenant's root (RFC 7644 §3.4.3): one query over Users and Groups.

Each resource type reads the SearchRequest against its own schema; a type whose schema lacks an
attribute the filter (or ``sortBy``) names has no resource that could match and takes no part,
and when no type can take the request its own error is the answer. Results come as one list:
unsorted, the Users then the Groups (each in its own stable order); with ``sortBy``, merged by
that attribute (one type alone is sorted and paged by the user-store). ``startIndex`` and
``count`` page over the whole list; cursors (RFC 9865) are per resource type and are refused
here.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from roster_shared.filters import ListQuery

from scim_api.errors import InvalidValue, ScimError
from scim_api.messages.list_response import list_response
from scim_api.messages.projection import project
from scim_api.messages.search_request import ListRequest
from scim_api.resources import Resource
from scim_api.resources.discovery import MAX_SORTED_SEARCH
from scim_api.resources.schemas import ResourceSchema, group_schema, user_schema
from scim_api.views.base import ScimView, scim_json
from scim_api.views.groups import group_page
from scim_api.views.users import user_page

Page = Callable[[ScimView, ListRequest, ListQuery], Awaitable[tuple[int, list[Resource], Any]]]
Plan = tuple[ListRequest, Page, ResourceSchema]


def _sort_key(resource: Resource, sort_by: str) -> tuple[int, Any, str]:
    """Where ``resource`` goes in a merged, sorted list: by the value of the canonical attribute
    ``sort_by`` (strings without regard to case, as Roster's sortable attributes compare), then
    by id; a resource without it comes first, as in the user-store's order."""
    holder: Any = resource
    urn, _, path = sort_by.rpartition(":")
    if urn:
        holder = resource.get(urn, {})
    value: Any = holder
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, str):
        return (1, value.casefold(), resource["id"])
    if value is None:
        return (0, "", resource["id"])
    return (1, value, resource["id"])


class RootSearchView(ScimView):
    """``/.search``: Users and Groups at once."""

    async def post(self) -> web.Response:
        """Search both resource types with one SearchRequest."""
        body = await self.json_object()
        plans: list[Plan] = []
        refusals: list[ScimError] = []
        for schema, page in ((user_schema(), user_page), (group_schema(), group_page)):
            try:
                plans.append((ListRequest.search(schema, body), page, schema))
            except ScimError as exc:
                refusals.append(exc)
        if not plans:
            raise refusals[0]
        first = plans[0][0]
        if first.cursor_paging:
            raise InvalidValue(
                "cursor paging is per resource type: POST /Users/.search or /Groups/.search"
            )
        query = first.query
        if query.sort_by is None or len(plans) == 1:
            # One type alone is paged, and sorted, by the user-store itself.
            total, resources = await self._concatenated(plans, query)
        else:
            total, resources = await self._merged(plans, query)
        return scim_json(list_response(first, total, resources, None))

    async def _concatenated(
        self, plans: list[Plan], query: ListQuery
    ) -> tuple[int, list[Resource]]:
        """Users then Groups: each type's share of the window [startIndex, +count)."""
        total = 0
        out: list[Resource] = []
        for listing, page, _schema in plans:
            # This type's results hold the overall positions total+1 .. total+found.
            start = max(1, query.start_index - total)
            window = listing.query.model_copy(
                update={"start_index": start, "count": query.count - len(out)}
            )
            found, resources, _ = await page(self, listing, window)
            out.extend(resources)
            total += found
        return total, out

    async def _merged(self, plans: list[Plan], query: ListQuery) -> tuple[int, list[Resource]]:
        """Every type's first ``startIndex - 1 + count`` in order, merged, then the window."""
        reach = query.start_index - 1 + query.count
        if reach > MAX_SORTED_SEARCH:
            raise InvalidValue(
                f"a sorted search across resource types reaches the first {MAX_SORTED_SEARCH} "
                "results; page further with POST /Users/.search or /Groups/.search"
            )
        sort_by = query.sort_by
        assert sort_by is not None
        total = 0
        merged: list[tuple[Resource, ListRequest, ResourceSchema]] = []
        for listing, page, schema in plans:
            # Whole resources, so that the sort attribute is there to merge on; the request's
            # attributes shape them afterwards.
            whole = copy.copy(listing)
            whole.attributes = whole.excluded = None
            window = listing.query.model_copy(update={"start_index": 1, "count": reach})
            found, resources, _ = await page(self, whole, window)
            total += found
            merged.extend((resource, listing, schema) for resource in resources)
        merged.sort(key=lambda item: _sort_key(item[0], sort_by), reverse=query.descending)
        return total, [
            project(schema, resource, listing.attributes, listing.excluded)
            for resource, listing, schema in merged[query.start_index - 1 : reach]
        ]
