"""Protocol messages in memory (no HTTP): preconditions, list requests and their bounds, Bulk."""

from __future__ import annotations

from typing import Any

import pytest
from roster_shared.filters import MAX_CURSOR_LENGTH, MAX_START_INDEX, Compare
from scim_api.errors import (
    InvalidCursor,
    InvalidSyntax,
    InvalidValue,
    InvalidVersion,
    NotFound,
    PreconditionFailed,
    TooManyOperations,
)
from scim_api.messages.bulk import BulkOperation, BulkRequest, UnresolvedReference, failed
from scim_api.messages.list_response import list_response
from scim_api.messages.preconditions import if_match, not_modified, version_number
from scim_api.messages.projection import attribute_names, members_wanted
from scim_api.messages.search_request import HUGE, SEARCH_REQUEST, ListRequest, integer
from scim_api.resources.discovery import DEFAULT_COUNT, MAX_BULK_OPERATIONS, MAX_RESULTS
from scim_api.resources.schemas import group_schema, user_schema

# -- preconditions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "version"),
    [('W/"3"', 3), ('"3"', 3), ("3", 3), (' W/"12" ', 12), ("W/x", None), ("²", None)],
)
def test_version_numbers_are_ascii_digits(value: str, version: int | None) -> None:
    assert version_number(value) == version


def test_a_version_has_at_most_18_digits() -> None:
    assert version_number("9" * 18) == int("9" * 18)
    assert version_number("9" * 19) is None


def test_if_match() -> None:
    assert if_match(None) is None
    assert if_match("*") is None
    assert if_match('W/"4"') == 4
    assert if_match('W/"4", *') is None
    with pytest.raises(InvalidVersion):
        if_match('W/"4", W/"5"')
    with pytest.raises(PreconditionFailed):
        if_match('W/"nope"')


def test_if_none_match() -> None:
    assert not not_modified(None, 3)
    assert not_modified("*", 3)
    assert not_modified('W/"nope", W/"3"', 3)
    assert not not_modified('W/"2"', 3)


# -- list requests -------------------------------------------------------------------------


def test_a_list_request_without_parameters() -> None:
    listing = ListRequest(user_schema(), {})
    assert listing.query.start_index == 1
    assert listing.query.count == DEFAULT_COUNT
    assert listing.query.filter is None
    assert not listing.cursor_paging


@pytest.mark.parametrize(
    ("params", "start", "count"),
    [
        ({"startIndex": "0", "count": "-5"}, 1, 0),
        ({"startIndex": "-3"}, 1, DEFAULT_COUNT),
        ({"count": str(MAX_RESULTS + 1)}, 1, MAX_RESULTS),
        ({"startIndex": "9" * 5000}, MAX_START_INDEX, DEFAULT_COUNT),
        ({"STARTINDEX": "2.0", "Count": 7}, 2, 7),
    ],
)
def test_paging_numbers_are_clamped(params: dict[str, Any], start: int, count: int) -> None:
    listing = ListRequest(user_schema(), params)
    assert (listing.query.start_index, listing.query.count) == (start, count)


@pytest.mark.parametrize("value", ["ten", "nan", "inf", True, [1], {"a": 1}])
def test_what_is_no_number_is_a_400(value: Any) -> None:
    with pytest.raises(InvalidValue):
        integer(value, "count")


def test_a_huge_number_stands_for_any() -> None:
    assert integer("1" + "0" * 30, "count") == HUGE
    assert integer(-(10**40), "count") == -HUGE


def test_a_list_request_resolves_names() -> None:
    listing = ListRequest(
        user_schema(),
        {"filter": 'USERNAME eq "a"', "sortBy": "NAME.givenname", "sortOrder": "Descending"},
    )
    assert listing.query.filter == Compare(attr="userName", op="eq", value="a")
    assert listing.query.sort_by == "name.givenName"
    assert listing.query.descending


@pytest.mark.parametrize(
    "params",
    [{"filter": 3}, {"sortBy": 1}, {"sortOrder": "up"}, {"cursor": 5}, {"attributes": 3}],
)
def test_mistyped_parameters_are_400s(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidValue):
        ListRequest(user_schema(), params)


def test_a_cursor_longer_than_any_issued_is_refused_unread() -> None:
    with pytest.raises(InvalidCursor):
        ListRequest(user_schema(), {"cursor": "x" * (MAX_CURSOR_LENGTH + 1)})
    assert ListRequest(user_schema(), {"cursor": ""}).cursor_paging


def test_a_search_request_body() -> None:
    listing = ListRequest.search(
        group_schema(),
        {"schemas": [SEARCH_REQUEST], "attributes": ["displayName"], "count": 2},
    )
    assert listing.attributes == ["displayName"]
    assert listing.query.count == 2
    with pytest.raises(InvalidSyntax):
        ListRequest.search(group_schema(), {"schemas": ["urn:other"]})


def test_list_responses_page_by_index_or_cursor() -> None:
    by_index = list_response(ListRequest(user_schema(), {"count": "1"}), 5, [{}], "next")
    assert by_index["startIndex"] == 1 and "nextCursor" not in by_index
    by_cursor = ListRequest(user_schema(), {"cursor": "", "count": "1"})
    assert list_response(by_cursor, 5, [{}], "next")["nextCursor"] == "next"
    # A page that is not full is the last: no cursor to follow.
    assert "nextCursor" not in list_response(by_cursor, 5, [], "next")


def test_projection_parameters() -> None:
    assert attribute_names(" userName, ,emails ", "attributes") == ["userName", "emails"]
    assert attribute_names("", "attributes") is None
    assert members_wanted(None, None)
    assert not members_wanted(["displayName"], None)
    assert members_wanted(["members.value"], None)
    assert not members_wanted(None, ["members"])


# -- Bulk ----------------------------------------------------------------------------------


def test_a_bulk_request() -> None:
    request = BulkRequest.parse({"Operations": [{}], "failOnErrors": 1})
    assert request.operations == [{}] and request.fail_on_errors == 1
    with pytest.raises(InvalidSyntax):
        BulkRequest.parse([])
    with pytest.raises(InvalidSyntax):
        BulkRequest.parse({"schemas": ["urn:other"], "Operations": []})
    with pytest.raises(TooManyOperations) as too_many:
        BulkRequest.parse({"Operations": [{}] * (MAX_BULK_OPERATIONS + 1)})
    assert (too_many.value.status, too_many.value.scim_type) == (413, "tooMany")  # §3.7.4
    with pytest.raises(InvalidValue):
        BulkRequest.parse({"Operations": [], "failOnErrors": 0})


def test_bulk_ids_resolve_to_what_earlier_operations_created() -> None:
    ids = {"q": "u-1"}
    op = BulkOperation.parse(
        {"method": "patch", "path": "/Users/bulkId:q", "data": {"x": "bulkId:q"}}, ids
    )
    assert (op.method, op.kind, op.target, op.data) == ("PATCH", "Users", "u-1", {"x": "u-1"})
    with pytest.raises(UnresolvedReference):
        BulkOperation.parse({"method": "DELETE", "path": "/Groups/bulkId:r"}, ids)


@pytest.mark.parametrize(
    ("op", "error"),
    [
        ({"method": "GET", "path": "/Users"}, InvalidSyntax),
        ({"method": "POST", "path": "/Elsewhere"}, NotFound),
        ({"method": "POST", "path": "/Users/1", "bulkId": "a", "data": {}}, InvalidSyntax),
        ({"method": "POST", "path": "/Users", "data": {}}, InvalidSyntax),
        ({"method": "PUT", "path": "/Users/1"}, InvalidSyntax),
        ({"method": "DELETE", "path": "/Users/1", "version": 'W/"x"'}, InvalidValue),
    ],
)
def test_operations_that_cannot_run(op: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        BulkOperation.parse(op, {})


def test_a_failed_operation_carries_a_scim_error() -> None:
    result = failed({"method": "post", "bulkId": "a"}, UnresolvedReference("no"))
    assert result["method"] == "POST" and result["bulkId"] == "a"
    assert result["status"] == "409"
    assert result["response"]["scimType"] == "invalidValue"
