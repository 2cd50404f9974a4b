"""What an outside attacker sends to the SCIM endpoint, and why each is refused (issue 8,
finding 4), on the embedded pairing (in-process bus, SQLite) and on Kafka with PostgreSQL.

Each test asserts the reason - the status, the ``scimType`` and the detail - so that a deleted
check cannot hide behind another refusal (a 500, or a 503 that tells the IdP to retry).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid
from typing import Any

from roster_cli import tenants as tenant_commands

from tests.scim.stack import ERROR, ScimStack, Tenant

READER_TOO = True
"""Also on Kafka + PostgreSQL with the scim-api reading as the reader role (conftest)."""
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
EVIL = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}


def assert_scim_error(
    status: int, body: Any, expected: int, scim_type: str | None, *detail: str
) -> None:
    """A SCIM error message (RFC 7644 §3.12) of that status and type, naming the reason."""
    assert status == expected, body
    assert body["schemas"] == [ERROR], body
    assert body["status"] == str(expected), body
    assert body.get("scimType") == scim_type, body
    for words in detail:
        assert words in body["detail"], body


def token_id(token: str) -> str:
    """The id part of ``rst_<id>_<secret>``."""
    return token.split("_")[1]


# -- tokens: a revocation counts on the next request, on every instance ----------------------


async def _used_everywhere(acme: Tenant, second: str) -> None:
    slug = acme.info.slug
    for base in (acme.base, f"{second}/scim/v2/{slug}"):
        status, body, _ = await acme.request("GET", f"{base}/Users")
        assert status == 200, body


async def _refused_everywhere(acme: Tenant, second: str) -> None:
    slug = acme.info.slug
    for base in (acme.base, f"{second}/scim/v2/{slug}"):
        status, body, headers = await acme.request("GET", f"{base}/Users")
        assert_scim_error(status, body, 401, None, "not valid for this tenant")
        assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_revoked_by_the_admin_api_stops_at_the_next_request(
    stack: ScimStack, acme: Tenant
) -> None:
    async with stack.another_instance() as second:
        await _used_everywhere(acme, second)
        async with stack.http.delete(
            f"{stack.url}/admin/tenants/{acme.info.slug}/tokens/{token_id(acme.token)}",
            headers={"Authorization": f"Bearer {stack.admin_token}"},
        ) as response:
            assert response.status == 200, await response.text()
        await _refused_everywhere(acme, second)


async def test_a_token_revoked_by_the_cli_stops_at_the_next_request(
    stack: ScimStack, acme: Tenant
) -> None:
    async with stack.another_instance() as second:
        await _used_everywhere(acme, second)
        # `roster tenant token revoke` writes the database directly; no service hears of it.
        outcome = await tenant_commands.token_revoke(
            stack.database_url, acme.info.slug, token_id(acme.token)
        )
        assert outcome.data["revoked_at"]
        await _refused_everywhere(acme, second)


async def test_a_revoked_token_is_refused_on_the_very_next_read_by_id_and_lookup(
    stack: ScimStack, acme: Tenant
) -> None:
    """GET by id and ``userName eq`` check the token in the same internal request as their
    read (roster_shared.token_reads): a revocation still counts on the very next one, on every
    instance, and the refusal comes before the read (no 404 for an unknown id)."""
    status, created, _ = await acme.request(
        "POST", "/Users", json={"schemas": [USER], "userName": "reader@example.com"}
    )
    assert status == 201, created
    slug = acme.info.slug
    paths = (
        f"/Users/{created['id']}",
        "/Users?filter=userName%20eq%20%22reader%40example.com%22",
        f"/Users/{uuid.uuid4()}",
    )
    async with stack.another_instance() as second:
        for base in (acme.base, f"{second}/scim/v2/{slug}"):
            status, body, _ = await acme.request("GET", base + paths[0])
            assert status == 200 and body["userName"] == "reader@example.com", body
            status, body, _ = await acme.request("GET", base + paths[1])
            assert status == 200 and body["totalResults"] == 1, body
            status, body, _ = await acme.request("GET", base + paths[2])
            assert_scim_error(status, body, 404, None, "not found")
        outcome = await tenant_commands.token_revoke(stack.database_url, slug, token_id(acme.token))
        assert outcome.data["revoked_at"]
        for base in (acme.base, f"{second}/scim/v2/{slug}"):
            for path in paths:
                status, body, headers = await acme.request("GET", base + path)
                assert_scim_error(status, body, 401, None, "not valid for this tenant")
                assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_read_without_a_live_token_learns_nothing_of_the_request(
    stack: ScimStack, acme: Tenant
) -> None:
    """Authentication comes before everything a read checks of its own: a bad filter, an id
    that cannot be one, another tenant's user - each is a 401 without a live token."""
    status, created, _ = await acme.request(
        "POST", "/Users", json={"schemas": [USER], "userName": "secret@example.com"}
    )
    assert status == 201, created
    other = await stack.tenant()
    wrong = dataclasses.replace(acme, token=acme.token[:-4] + "AAAA")
    foreign = dataclasses.replace(acme, token=other.token)
    for caller in (wrong, foreign):
        for path in (
            "/Users?filter=nosuch%20eq%20%22x%22",
            "/Users?filter=userName%20eq",
            "/Users?count=nope",
            "/Users/not-an-id",
            f"/Users/{created['id']}",
            f"/Users/{created['id']}?attributes=nosuch..attr",
        ):
            status, body, _ = await caller.request("GET", path)
            assert_scim_error(status, body, 401, None, "not valid for this tenant")
    # The same requests with the live token get the answers about themselves.
    status, body, _ = await acme.request("GET", "/Users?filter=userName%20eq")
    assert_scim_error(status, body, 400, "invalidFilter")
    status, body, _ = await acme.request("GET", "/Users/not-an-id")
    assert_scim_error(status, body, 404, None, "not found")
    # The other tenant's own token reads nothing of acme's: its users are not acme's.
    status, body, _ = await other.request("GET", f"/Users/{created['id']}")
    assert_scim_error(status, body, 404, None, "not found")


# -- public URLs come from settings, never from Host ------------------------------------------


def _urls(data: Any) -> list[str]:
    """Every absolute URL in a response body."""
    if isinstance(data, dict):
        return [u for v in data.values() for u in _urls(v)]
    if isinstance(data, list):
        return [u for v in data for u in _urls(v)]
    return [data] if isinstance(data, str) and "://" in data else []


async def test_a_forged_host_header_never_reaches_location_or_meta_location(
    stack: ScimStack, acme: Tenant
) -> None:
    base = f"{stack.url}/scim/v2/{acme.info.slug}"  # the configured public URL (stack.url)
    status, user, headers = await acme.request(
        "POST", "/Users", json={"schemas": [USER], "userName": "host@example.com"}, headers=EVIL
    )
    assert status == 201, user
    assert headers["Location"] == f"{base}/Users/{user['id']}"
    assert user["meta"]["location"] == headers["Location"]
    status, group, headers = await acme.request(
        "POST",
        "/Groups",
        json={"schemas": [GROUP], "displayName": "Hosts", "members": [{"value": user["id"]}]},
        headers=EVIL,
    )
    assert status == 201, group
    assert headers["Location"] == f"{base}/Groups/{group['id']}"
    assert group["members"][0]["$ref"] == f"{base}/Users/{user['id']}"
    responses = [user, group]
    for path in (
        f"/Users/{user['id']}",
        "/Users",
        "/Groups",
        "/ServiceProviderConfig",
        "/Schemas",
        "/ResourceTypes",
    ):
        status, body, _ = await acme.request("GET", path, headers=EVIL)
        assert status == 200, (path, body)
        responses.append(body)
    status, body, _ = await acme.request(
        "POST",
        "/Bulk",
        json={
            "schemas": [BULK],
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "b@x.com"}}
            ],
        },
        headers=EVIL,
    )
    assert status == 200 and body["Operations"][0]["location"].startswith(base + "/Users/"), body
    responses.append(body)
    spec = "https://www.rfc-editor.org/"  # the bearer scheme's specUri in ServiceProviderConfig
    urls = [u for r in responses for u in _urls(r) if not u.startswith(spec)]
    assert urls and all(u.startswith(base + "/") for u in urls), [
        u for u in urls if not u.startswith(base + "/")
    ]
    assert not any("evil.example" in u for u in urls)


# -- filters: depth and size are checked before anything recurses ----------------------------


async def _filtered(acme: Tenant, text: str) -> tuple[int, Any]:
    status, body, _ = await acme.request("GET", "/Users", params={"filter": text})
    search_status, search_body, _ = await acme.request(
        "POST", "/Users/.search", json={"filter": text}
    )
    assert (search_status, search_body) == (status, body)
    return status, body


async def test_a_thousand_chained_nots_is_invalid_filter_not_a_500(acme: Tenant) -> None:
    status, body = await _filtered(acme, "not " * 1000 + 'userName eq "a"')
    assert_scim_error(status, body, 400, "invalidFilter", "nests deeper than 16 levels")


async def test_deep_parentheses_and_brackets_are_invalid_filter(acme: Tenant) -> None:
    for text in (
        "(" * 1000 + 'userName eq "a"' + ")" * 1000,
        "emails[" + "(" * 1000 + 'value eq "a"' + ")" * 1000 + "]",
        "not (" * 300 + "title pr" + ")" * 300,
        # Two operators per parenthesis: 9 parentheses, 18 levels of the tree.
        "title pr or title pr and (" * 9 + "title pr" + ")" * 9,
    ):
        status, body = await _filtered(acme, text)
        assert_scim_error(status, body, 400, "invalidFilter", "nests deeper than 16 levels")


async def test_a_long_and_chain_is_invalid_filter(acme: Tenant) -> None:
    status, body = await _filtered(acme, " and ".join(["id pr"] * 101))
    assert_scim_error(status, body, 400, "invalidFilter", "more than 100 attribute expressions")


async def test_the_largest_filter_allowed_is_answered_by_the_database(acme: Tenant) -> None:
    # At the limits, each term its own SQL condition or subquery: SQLite's expression depth
    # and both databases' parameter limits must still be far away.
    for text in (
        " or ".join(["not (emails.value pr and title pr)"] * 50),
        " and ".join(['emails[type eq "work" or value co "@"]'] * 33),
        "not (" * 8 + "title pr" + ")" * 8,  # 16 levels: not and ( count one each
        "title pr or title pr and (" * 7 + "title pr" + ")" * 7,  # 16 levels of or/and
    ):
        status, body = await _filtered(acme, text)
        assert status == 200, (text[:80], body)


async def test_an_infinite_number_in_a_filter_is_invalid_filter(acme: Tenant) -> None:
    status, body = await _filtered(acme, "userName eq 1e999")
    assert_scim_error(status, body, 400, "invalidFilter", "not a finite number")


# -- JSON bodies: nesting is bounded before anything walks it ---------------------------------

DEEP = ("[" * 100_000 + "]" * 100_000).encode()  # 200 kB, under the 1 MiB body limit
DEEP_OBJECT = ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()


async def test_100000_deep_json_is_invalid_syntax_at_every_scim_body(acme: Tenant) -> None:
    user = await _user(acme, "deep@example.com")
    for method, path in (
        ("POST", "/Users"),
        ("PUT", f"/Users/{user['id']}"),
        ("PATCH", f"/Users/{user['id']}"),
        ("POST", "/Users/.search"),
        ("POST", "/Groups"),
        ("POST", "/Bulk"),
    ):
        for body in (DEEP, DEEP_OBJECT):
            status, error, _ = await acme.request(
                method, path, data=body, headers={"Content-Type": "application/scim+json"}
            )
            assert_scim_error(status, error, 400, "invalidSyntax", "nests deeper than 64 levels")


async def _user(acme: Tenant, user_name: str) -> dict[str, Any]:
    status, body, _ = await acme.request(
        "POST", "/Users", json={"schemas": [USER], "userName": user_name}
    )
    assert status == 201, body
    return dict(body)


async def _raw(
    stack: ScimStack, method: str, path: str, credential: str, body: bytes
) -> tuple[int, Any]:
    async with stack.http.request(
        method,
        stack.url + path,
        data=body,
        headers={"Authorization": f"Bearer {credential}", "Content-Type": "application/json"},
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_100000_deep_json_is_a_typed_400_at_the_user_store(
    stack: ScimStack, acme: Tenant
) -> None:
    tenant = acme.info.id
    internal = [
        ("POST", f"/internal/tenants/{tenant}/users/query"),
        ("POST", f"/internal/tenants/{tenant}/groups/query"),
        ("POST", f"/internal/tenants/{tenant}/tokens/verify"),
        ("POST", f"/internal/tenants/{tenant}/replay-claims"),
        ("PUT", f"/internal/tenants/{tenant}/settings/sso"),
    ]
    admin = [("POST", "/admin/tenants"), ("PATCH", f"/admin/tenants/{tenant}")]
    for credential, calls in ((stack.internal_token, internal), (stack.admin_token, admin)):
        for method, path in calls:
            for body in (DEEP, DEEP_OBJECT):
                status, error = await _raw(stack, method, path, credential, body)
                assert status == 400, (path, error)
                assert error["error"] == "invalid", (path, error)
                assert "nests deeper than 64 levels" in error["detail"], (path, error)


def _nots(depth: int) -> dict[str, Any]:
    tree: dict[str, Any] = {"kind": "present", "attr": "title"}
    for _ in range(depth):
        tree = {"kind": "not", "item": tree}
    return tree


async def test_the_user_store_bounds_the_filter_trees_it_is_sent(
    stack: ScimStack, acme: Tenant
) -> None:
    # The internal API does not trust the scim-api's parser to have bounded the tree.
    path = f"/internal/tenants/{acme.info.id}/users/query"
    leaf = {"kind": "present", "attr": "title"}
    for tree, reason in (
        (_nots(21), "nests deeper than 20 levels"),
        ({"kind": "or", "items": [leaf] * 600}, "more than 512 nodes"),
    ):
        status, error = await _raw(
            stack, "POST", path, stack.internal_token, json.dumps({"filter": tree}).encode()
        )
        assert status == 400, error
        assert error["error"] == "invalid_filter" and reason in error["detail"], error
    for tree in (_nots(20), {"kind": "or", "items": [leaf] * 511}):
        status, page = await _raw(
            stack, "POST", path, stack.internal_token, json.dumps({"filter": tree}).encode()
        )
        assert status == 200, page


# -- cursors: authenticated, bound to their query --------------------------------------------


async def _first_cursor(tenant: Tenant, **params: str) -> str:
    status, body, _ = await tenant.request(
        "GET", "/Users", params={"cursor": "", "count": "1", **params}
    )
    assert status == 200 and "nextCursor" in body, body
    return str(body["nextCursor"])


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


async def test_a_tampered_or_foreign_cursor_is_invalid_cursor(
    stack: ScimStack, acme: Tenant
) -> None:
    for name in ("a@example.com", "b@example.com", "c@example.com"):
        await _user(acme, name)
    cursor = await _first_cursor(acme, sortBy="userName")
    status, body, _ = await acme.request(
        "GET", "/Users", params={"cursor": cursor, "count": "1", "sortBy": "userName"}
    )
    assert status == 200 and body["Resources"][0]["userName"] == "b@example.com", body
    position, _, mac = cursor.partition(".")
    forged_position = (
        base64.urlsafe_b64encode(b'{"v":"a","id":"\' or 1=1 --"}').rstrip(b"=").decode()
    )
    other = await stack.tenant()
    for _ in range(3):
        await _user(other, f"{uuid.uuid4().hex[:8]}@example.com")
    refusals = {
        "an altered position": (
            {"cursor": f"{_flip(position, 3)}.{mac}", "sortBy": "userName"},
            acme,
        ),
        "an altered MAC": ({"cursor": _flip(cursor, len(cursor) - 3), "sortBy": "userName"}, acme),
        "a forged position": ({"cursor": f"{forged_position}.{mac}", "sortBy": "userName"}, acme),
        "another sort order": ({"cursor": cursor, "sortBy": "displayName"}, acme),
        "another direction": (
            {"cursor": cursor, "sortBy": "userName", "sortOrder": "descending"},
            acme,
        ),
        "another filter": ({"cursor": cursor, "sortBy": "userName", "filter": "id pr"}, acme),
        "another tenant": ({"cursor": cursor, "sortBy": "userName"}, other),
    }
    for why, (params, tenant) in refusals.items():
        status, body, _ = await tenant.request("GET", "/Users", params=params)
        assert "not issued" in body.get("detail", ""), (why, body)
        assert_scim_error(status, body, 400, "invalidCursor", "not issued for this query")
    for garbage, detail in (
        ("garbage!!", "malformed"),
        ("%%%.%%%", "malformed"),
        ("x" * 5000, "longer than any this endpoint issues"),
    ):
        status, body, _ = await acme.request("GET", "/Users", params={"cursor": garbage})
        assert_scim_error(status, body, 400, "invalidCursor", detail)


async def test_the_internal_api_refuses_a_tampered_cursor_with_a_typed_400(
    stack: ScimStack, acme: Tenant
) -> None:
    for name in ("a@example.com", "b@example.com"):
        await _user(acme, name)
    cursor = await _first_cursor(acme)
    status, error = await _raw(
        stack,
        "POST",
        f"/internal/tenants/{acme.info.id}/users/query",
        stack.internal_token,
        json.dumps({"cursor": _flip(cursor, 2), "count": 1}).encode(),
    )
    assert status == 400 and error["error"] == "invalid_cursor", error
    assert "not issued for this query" in error["detail"]


# -- numbers: every one a client sends is bounded ---------------------------------------------


async def test_huge_negative_and_odd_paging_numbers_are_clamped_not_a_500(acme: Tenant) -> None:
    await _user(acme, "page@example.com")
    huge = "9" * 5000  # more digits than int() takes
    cases = [
        ({"startIndex": str(10**30)}, 2**31 - 1, 0),
        ({"startIndex": huge}, 2**31 - 1, 0),
        ({"startIndex": "-7"}, 1, 1),
        ({"startIndex": "0", "count": str(-(10**30))}, 1, 0),
        ({"count": str(10**30)}, 1, 1),
        ({"count": "1e300"}, 1, 1),
        ({"startIndex": "1e300"}, 2**31 - 1, 0),
    ]
    for params, start, items in cases:
        for status, body in await _listed(acme, params):
            assert status == 200, (params, body)
            assert body["startIndex"] == start and body["itemsPerPage"] == items, (params, body)
            assert body["totalResults"] == 1


async def _listed(acme: Tenant, params: dict[str, Any]) -> list[tuple[int, Any]]:
    """The same paging asked as a query string and as a ``.search`` body (numbers as JSON)."""
    status, body, _ = await acme.request("GET", "/Users", params=params)
    as_json = {k: _number(v) for k, v in params.items()}
    search_status, search_body, _ = await acme.request("POST", "/Users/.search", json=as_json)
    return [(status, body), (search_status, search_body)]


def _number(text: str) -> Any:
    try:
        return int(text) if len(text) < 4000 else text
    except ValueError:
        return float(text)


async def test_non_numeric_paging_numbers_are_invalid_value(acme: Tenant) -> None:
    for name, value in (("count", "lots"), ("startIndex", "1e999"), ("count", "nan")):
        status, body, _ = await acme.request("GET", "/Users", params={name: value})
        assert_scim_error(status, body, 400, "invalidValue", name)
    for raw in (b'{"count": 1e400}', b'{"startIndex": [1]}', b'{"count": true}'):
        status, body, _ = await acme.request(
            "POST", "/Users/.search", data=raw, headers={"Content-Type": "application/scim+json"}
        )
        assert_scim_error(status, body, 400, "invalidValue")


async def test_odd_versions_in_if_match_are_412_not_a_500(acme: Tenant) -> None:
    user = await _user(acme, "version@example.com")
    for version in ('W/"' + "9" * 5000 + '"', 'W/"²"', 'W/"' + str(2**70) + '"'):
        status, body, _ = await acme.request(
            "DELETE", f"/Users/{user['id']}", headers={"If-Match": version}
        )
        assert_scim_error(status, body, 412, None, "is not a version of this resource")


async def test_the_internal_api_refuses_an_out_of_range_query_with_a_typed_400(
    stack: ScimStack, acme: Tenant
) -> None:
    path = f"/internal/tenants/{acme.info.id}/users/query"
    for query in ({"start_index": 10**30}, {"start_index": 0}, {"count": -1}, {"count": 10**30}):
        status, error = await _raw(
            stack, "POST", path, stack.internal_token, json.dumps(query).encode()
        )
        assert status == 400 and error["error"] == "invalid", (query, error)
        assert error["detail"].startswith("invalid query"), error
