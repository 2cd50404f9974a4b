"""List and ``.search`` requests (RFC 7644 §3.4.2, §3.4.3; cursors: RFC 9865): query
parameters or a SearchRequest body to the user-store's :class:`ListQuery`, within bounds.

Every number a client sends is brought inside what a page can be before it goes anywhere
(§3.4.2.4 says how for ``startIndex`` and ``count``), and a cursor longer than any this endpoint
issues is refused unread.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from roster_shared.filters import MAX_CURSOR_LENGTH, MAX_START_INDEX, ListQuery

from scim_api.errors import InvalidCursor, InvalidSyntax, InvalidValue
from scim_api.messages.filter import parse_filter
from scim_api.messages.projection import attribute_names
from scim_api.resources.discovery import DEFAULT_COUNT, MAX_RESULTS
from scim_api.resources.schemas import ResourceSchema, resolve

SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

HUGE = 10**20
"""Stands for any integer past what a page could reach: it is clamped like one."""


def integer(value: Any, what: str) -> int | None:
    """An integer query parameter (RFC 7644 §3.4.2.4), from a query string or a ``.search``
    body. A value too large to matter comes back as :data:`HUGE`, for the caller to clamp;
    only what is not a number at all is a 400."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidValue(f"{what} must be an integer")
    if isinstance(value, int):
        return max(min(value, HUGE), -HUGE)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?[0-9]+", text):
            # int() of more than 4300 digits raises; no count or index needs more than 20.
            digits = text.lstrip("+-").lstrip("0") or "0"
            sign = -1 if text.startswith("-") else 1
            return sign * (int(digits) if len(digits) <= 20 else HUGE)
        try:
            value = float(text)
        except ValueError:
            raise InvalidValue(f"{what} must be an integer, not {value[:40]!r}") from None
    if not math.isfinite(value):
        raise InvalidValue(f"{what} must be a finite integer, not {value!r}")
    return max(min(int(value), HUGE), -HUGE)


class ListRequest:
    """The parameters of a list or ``.search`` request (RFC 7644 §3.4.2, §3.4.3, RFC 9865)."""

    def __init__(self, schema: ResourceSchema, params: Mapping[str, Any]) -> None:
        lowered = {k.lower(): v for k, v in params.items()}
        text = lowered.get("filter")
        if text is not None and not isinstance(text, str):
            raise InvalidValue("filter must be a string")
        filter_ = parse_filter(schema, text) if text is not None else None
        # RFC 7644 §3.4.2.4: startIndex below 1 is 1, a negative count is 0, and a count above
        # maxResults is lowered to it. An index past any page is clamped as well: the page is
        # empty either way, and no database integer overflows on it.
        start = integer(lowered.get("startindex"), "startIndex") or 1
        start = min(max(start, 1), MAX_START_INDEX)
        count = integer(lowered.get("count"), "count")
        count = DEFAULT_COUNT if count is None else min(max(count, 0), MAX_RESULTS)
        sort_by = lowered.get("sortby")
        if sort_by is not None:
            if not isinstance(sort_by, str):
                raise InvalidValue("sortBy must be an attribute name")
            sort_by = resolve(schema, sort_by, InvalidValue).name
        order = lowered.get("sortorder")
        if order is not None and (
            not isinstance(order, str) or order.lower() not in ("ascending", "descending")
        ):
            raise InvalidValue("sortOrder must be ascending or descending")
        cursor = lowered.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise InvalidValue("cursor must be a string")
        if cursor is not None and len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursor("the cursor is longer than any this endpoint issues")
        self.cursor_paging = cursor is not None
        self.query = ListQuery(
            filter=filter_,
            sort_by=sort_by,
            descending=bool(order and order.lower() == "descending"),
            start_index=start,
            count=count,
            cursor=cursor or None,
        )
        self.attributes = attribute_names(lowered.get("attributes"), "attributes")
        self.excluded = attribute_names(lowered.get("excludedattributes"), "excludedAttributes")

    @classmethod
    def search(cls, schema: ResourceSchema, body: dict[str, Any]) -> ListRequest:
        """A ``POST .../.search`` body (a SearchRequest message, RFC 7644 §3.4.3)."""
        schemas = body.get("schemas")
        if schemas is not None and SEARCH_REQUEST not in schemas:
            raise InvalidSyntax(f"schemas must be [{SEARCH_REQUEST!r}]")
        return cls(schema, {k: v for k, v in body.items() if k != "schemas"})
