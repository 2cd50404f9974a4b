"""List responses (RFC 7644 §3.4.2; ``nextCursor``: RFC 9865)."""

from __future__ import annotations

from typing import Any

from scim_api.messages.search_request import ListRequest

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def list_response(
    request: ListRequest, total: int, resources: list[dict[str, Any]], next_cursor: str | None
) -> dict[str, Any]:
    """The ListResponse of one page. A cursor-paged request gets ``nextCursor`` while the page
    is full; an index-paged one gets ``startIndex``."""
    body: dict[str, Any] = {
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": len(resources),
    }
    if request.cursor_paging:
        if next_cursor and len(resources) == request.query.count:
            body["nextCursor"] = next_cursor
    else:
        body["startIndex"] = request.query.start_index
    body["Resources"] = resources
    return body


def everything(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """A ListResponse holding all of ``documents`` on one page (the discovery endpoints)."""
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(documents),
        "itemsPerPage": len(documents),
        "startIndex": 1,
        "Resources": documents,
    }
