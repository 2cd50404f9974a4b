"""The SCIM protocol end to end (scim-api -> bus -> user-store -> internal API), embedded pairing.

Each test talks HTTP to the real services on the in-process bus and SQLite; the interop tests
replay IdP traffic on Kafka and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from roster_shared.tenants import ProvisioningMode

from tests.scim.stack import ERROR, ScimStack, Tenant

READER_TOO = True
"""Also on Kafka + PostgreSQL with the scim-api reading as the reader role (conftest)."""
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def assert_error(status: int, body: Any, expected: int, scim_type: str | None = None) -> None:
    assert status == expected, body
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(expected)
    assert body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body


async def create_user(tenant: Tenant, user_name: str, **extra: Any) -> dict[str, Any]:
    status, body, _ = await tenant.request(
        "POST", "/Users", json={"schemas": [USER], "userName": user_name, **extra}
    )
    assert status == 201, body
    return dict(body)


async def patch(tenant: Tenant, path: str, *ops: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    status, body, _ = await tenant.request(
        "PATCH", path, json={"schemas": [PATCH], "Operations": list(ops)}, **kw
    )
    return status, body


# -- users -----------------------------------------------------------------------------------


async def test_post_returns_201_with_location_etag_and_the_full_resource(acme: Tenant) -> None:
    status, body, headers = await acme.request(
        "POST",
        "/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "Ada.Lovelace@Example.com",
            "externalId": "00u-ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
            "displayName": "Ada",
            "title": "Countess",
            "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
            "phoneNumbers": [{"value": "+44 20 0000", "type": "work"}],
            "password": "s3cret-never-kept",
            ENTERPRISE: {"employeeNumber": "42", "manager": {"value": "boss-id"}},
        },
        headers={"Content-Type": "application/scim+json"},
    )
    assert status == 201, body
    assert headers["Content-Type"].startswith("application/scim+json")
    assert headers["Location"] == body["meta"]["location"]
    assert headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["schemas"] == [USER, ENTERPRISE]
    assert body["userName"] == "Ada.Lovelace@Example.com"  # original case kept
    assert body["name"] == {
        "formatted": "Ada Lovelace",
        "givenName": "Ada",
        "familyName": "Lovelace",
    }
    assert body["title"] == "Countess"
    assert body["phoneNumbers"] == [{"value": "+44 20 0000", "type": "work"}]
    assert body[ENTERPRISE] == {"employeeNumber": "42", "manager": {"value": "boss-id"}}
    assert "password" not in body
    assert body["active"] is True
    status, got, headers = await acme.request("GET", f"/Users/{body['id']}")
    assert status == 200 and got == body and headers["ETag"] == 'W/"1"'


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/scim+json; charset=utf-8"]
)
async def test_post_accepts_json_content_types(acme: Tenant, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, body, _ = await acme.request(
        "POST", "/Users", data=b'{"userName": "ct@example.com"}', headers=headers
    )
    assert status == 201, body


async def test_post_refuses_other_content_types(acme: Tenant) -> None:
    status, body, _ = await acme.request(
        "POST",
        "/Users",
        data=b"userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(status, body, 415)


async def test_retried_post_is_a_409_naming_the_existing_user(acme: Tenant) -> None:
    first = await create_user(acme, "bob@example.com", externalId="ext-bob")
    for retry in (
        {"userName": "bob@example.com", "externalId": "ext-bob"},
        {"userName": "BOB@example.com"},
        {"userName": "other@example.com", "externalId": "ext-bob"},
    ):
        status, body, _ = await acme.request("POST", "/Users", json=retry)
        assert_error(status, body, 409, "uniqueness")
        assert first["id"] in body["detail"]
    status, body, _ = await acme.request("GET", "/Users")
    assert body["totalResults"] == 1


async def test_bad_bodies_are_400s(acme: Tenant) -> None:
    status, body, _ = await acme.request(
        "POST", "/Users", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "invalidSyntax")
    status, body, _ = await acme.request("POST", "/Users", json=["a"])
    assert_error(status, body, 400, "invalidSyntax")
    status, body, _ = await acme.request("POST", "/Users", json={"displayName": "no user name"})
    assert_error(status, body, 400, "invalidValue")
    status, body, _ = await acme.request(
        "POST", "/Users", json={"userName": "x@example.com", "active": "maybe"}
    )
    assert_error(status, body, 400, "invalidValue")
    status, body, _ = await acme.request(
        "POST", "/Users", json={"userName": "x@example.com", "emails": "nope"}
    )
    assert_error(status, body, 400, "invalidValue")


async def test_body_size_limit_is_413(acme: Tenant) -> None:
    import io
    import json

    raw = json.dumps({"userName": "big@example.com", "title": "x" * 1_100_000}).encode()
    status, body, _ = await acme.request(
        "POST", "/Users", data=io.BytesIO(raw), headers={"Content-Type": "application/scim+json"}
    )
    assert_error(status, body, 413)


async def test_put_replaces_and_keeps_external_id(acme: Tenant) -> None:
    user = await create_user(
        acme, "carol@example.com", externalId="ext-carol", title="Engineer", nickName="C"
    )
    status, body, headers = await acme.request(
        "PUT",
        f"/Users/{user['id']}",
        json={
            "schemas": [USER],
            "userName": "carol.new@example.com",
            "name": {"givenName": "Carol"},
            "active": False,
            "id": "ignored",
            "meta": {"version": 'W/"9"'},
        },
    )
    assert status == 200, body
    assert body["id"] == user["id"]
    assert body["userName"] == "carol.new@example.com"
    assert body["externalId"] == "ext-carol"
    assert body["active"] is False
    assert "title" not in body and "nickName" not in body
    assert headers["ETag"] == 'W/"2"'


async def test_if_match_and_if_none_match(acme: Tenant) -> None:
    user = await create_user(acme, "dave@example.com")
    path = f"/Users/{user['id']}"
    status, body, _ = await acme.request("GET", path, headers={"If-None-Match": 'W/"1"'})
    assert status == 304 and body is None
    status, body, _ = await acme.request("GET", path, headers={"If-None-Match": 'W/"7"'})
    assert status == 200
    status, body = await patch(
        acme, path, {"op": "replace", "path": "title", "value": "x"}, headers={"If-Match": 'W/"5"'}
    )
    assert_error(status, body, 412)
    status, body, _ = await acme.request(
        "PUT", path, json={"userName": "dave@example.com"}, headers={"If-Match": 'W/"3"'}
    )
    assert_error(status, body, 412)
    status, body, _ = await acme.request("DELETE", path, headers={"If-Match": '"2"'})
    assert_error(status, body, 412)
    status, body = await patch(
        acme, path, {"op": "replace", "path": "title", "value": "x"}, headers={"If-Match": 'W/"1"'}
    )
    assert status == 200 and body["meta"]["version"] == 'W/"2"'
    status, body, _ = await acme.request("DELETE", path, headers={"If-Match": 'W/"2"'})
    assert status == 204


async def test_unknown_and_foreign_ids_are_404(stack: ScimStack, acme: Tenant) -> None:
    other = await stack.tenant("other")
    theirs = await create_user(other, "eve@example.com")
    group_status, group, _ = await other.request("POST", "/Groups", json={"displayName": "Theirs"})
    assert group_status == 201
    for method, path, kw in (
        ("GET", f"/Users/{theirs['id']}", {}),
        ("PUT", f"/Users/{theirs['id']}", {"json": {"userName": "eve@example.com"}}),
        (
            "PATCH",
            f"/Users/{theirs['id']}",
            {"json": {"Operations": [{"op": "replace", "path": "title", "value": "t"}]}},
        ),
        ("DELETE", f"/Users/{theirs['id']}", {}),
        ("GET", f"/Groups/{group['id']}", {}),
        (
            "PATCH",
            f"/Groups/{group['id']}",
            {"json": {"Operations": [{"op": "add", "path": "members", "value": [{"value": "x"}]}]}},
        ),
        ("DELETE", f"/Groups/{group['id']}", {}),
        ("GET", "/Users/does-not-exist", {}),
    ):
        status, body, _ = await acme.request(method, path, **kw)
        assert_error(status, body, 404)
    # Their token does not open our tenant either.
    async with acme.http.get(
        acme.base + "/Users", headers={"Authorization": f"Bearer {other.token}"}
    ) as response:
        assert response.status == 401


async def test_deactivated_user_is_still_returned(acme: Tenant) -> None:
    user = await create_user(acme, "frank@example.com")
    status, body = await patch(
        acme, f"/Users/{user['id']}", {"op": "replace", "value": {"active": False}}
    )
    assert status == 200 and body["active"] is False
    status, body, _ = await acme.request("GET", f"/Users/{user['id']}")
    assert status == 200 and body["active"] is False
    status, body, _ = await acme.request("GET", "/Users", params={"filter": "active eq false"})
    assert [u["id"] for u in body["Resources"]] == [user["id"]]


async def test_jit_tenant_refuses_scim_writes_with_403(stack: ScimStack) -> None:
    jit = await stack.tenant("jitco", mode=ProvisioningMode.JIT)
    status, body, _ = await jit.request("POST", "/Users", json={"userName": "x@example.com"})
    assert_error(status, body, 403)
    assert "jit" in body["detail"]


async def test_post_adopts_the_account_a_login_made(stack: ScimStack, acme: Tenant) -> None:
    from tests.integration.harness import login

    jit = await stack.login(login(acme.info, "00u-grace", "Grace.Hopper@Example.com"))
    assert jit.ok and jit.user is not None and jit.user.origin == "jit"
    status, body, _ = await acme.request(
        "POST",
        "/Users",
        json={"userName": "grace.hopper@example.com", "externalId": "ext-grace"},
    )
    assert status == 201, body
    assert body["id"] == jit.user.id and body["externalId"] == "ext-grace"
    _, listed, _ = await acme.request("GET", "/Users")
    assert listed["totalResults"] == 1  # one person, one account


async def test_me_is_501(acme: Tenant) -> None:
    status, body, _ = await acme.request("GET", "/Me")
    assert_error(status, body, 501)


# -- filters, paging, sorting, shaping -------------------------------------------------------


@pytest.fixture
async def people(acme: Tenant) -> dict[str, dict[str, Any]]:
    out = {}
    for name, given, title, email_type, active, emp in (
        ("alice@corp.com", "Alice", "Engineer", "work", True, "1"),
        ("bob@corp.com", "Bob", "Manager", "home", True, "2"),
        ("carol@other.org", "Carol", "Engineer", "work", False, "3"),
        ("dan_x@corp.com", "Dan", None, "work", True, None),
    ):
        extra: dict[str, Any] = {
            "name": {"givenName": given},
            "emails": [{"value": name, "type": email_type}],
            "active": active,
        }
        if title:
            extra["title"] = title
        if emp:
            extra[ENTERPRISE] = {"employeeNumber": emp, "department": "R&D"}
        out[given] = await create_user(acme, name, **extra)
    return out


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ('userName eq "ALICE@corp.com"', {"Alice"}),
        ('userName ne "alice@corp.com"', {"Bob", "Carol", "Dan"}),
        ('userName co "corp"', {"Alice", "Bob", "Dan"}),
        ('userName sw "b"', {"Bob"}),
        ('userName ew ".org"', {"Carol"}),
        ('userName co "_"', {"Dan"}),  # LIKE wildcards are escaped
        ('userName co "%"', set()),
        ("title pr", {"Alice", "Bob", "Carol"}),
        ('title eq "engineer" and active eq true', {"Alice"}),
        ('title eq "Manager" or name.givenName eq "dan"', {"Bob", "Dan"}),
        ('not (userName co "corp")', {"Carol"}),
        ('emails[type eq "work" and value co "@corp.com"]', {"Alice", "Dan"}),
        ('emails[type eq "work"].value eq "carol@other.org"', {"Carol"}),
        ('emails.value sw "bob"', {"Bob"}),
        ('emails.type eq "home"', {"Bob"}),
        (f'{ENTERPRISE}:employeeNumber eq "2"', {"Bob"}),
        (
            f'{ENTERPRISE}:department eq "r&d" and not ({ENTERPRISE}:employeeNumber gt "1")',
            {"Alice"},
        ),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@corp.com"', {"Bob"}),
        ('USERNAME EQ "bob@corp.com"', {"Bob"}),
        ('meta.created gt "2000-01-01T00:00:00Z"', {"Alice", "Bob", "Carol", "Dan"}),
        ('externalId eq "none"', set()),
    ],
)
async def test_filters(
    acme: Tenant, people: dict[str, Any], filter_: str, expected: set[str]
) -> None:
    status, body, _ = await acme.request("GET", "/Users", params={"filter": filter_})
    assert status == 200, body
    assert body["schemas"] == [LIST]
    assert {r["name"]["givenName"] for r in body["Resources"]} == expected
    assert body["totalResults"] == len(expected)


@pytest.mark.parametrize(
    "filter_",
    [
        "userName eq",
        'userName xx "a"',
        'nosuch eq "a"',
        'name.nosuch eq "a"',
        '(userName eq "a"',
        'userName eq "a" and',
        'emails[type eq "work"',
        'active eq "maybe"',
        'active co "t"',
        "userName eq unquoted",
        "",
        "not (" * 40 + 'userName eq "a"' + ")" * 40,
        'phoneNumbers[nosuch eq "work"]',
    ],
)
async def test_bad_filters_are_400_invalid_filter(acme: Tenant, filter_: str) -> None:
    status, body, _ = await acme.request("GET", "/Users", params={"filter": filter_})
    assert status == 400, body
    assert body["scimType"] in ("invalidFilter", "tooMany")


async def test_filter_length_and_depth_limits(acme: Tenant) -> None:
    long = 'userName eq "a"' + ' or userName eq "b"' * 300
    status, body, _ = await acme.request("POST", "/Users/.search", json={"filter": long})
    assert_error(status, body, 400, "invalidFilter")
    assert "4096" in body["detail"]


async def test_empty_result_is_200_with_empty_list(acme: Tenant) -> None:
    status, body, _ = await acme.request("GET", "/Users", params={"filter": 'userName eq "nobody"'})
    assert status == 200
    assert body == {
        "schemas": [LIST],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }


async def test_index_paging_sorting_and_count_limits(acme: Tenant, people: Any) -> None:
    status, body, _ = await acme.request(
        "GET", "/Users", params={"sortBy": "userName", "startIndex": "2", "count": "2"}
    )
    assert status == 200
    assert [r["userName"] for r in body["Resources"]] == ["bob@corp.com", "carol@other.org"]
    assert body["startIndex"] == 2 and body["itemsPerPage"] == 2 and body["totalResults"] == 4
    status, body, _ = await acme.request(
        "GET", "/Users", params={"sortBy": "name.givenName", "sortOrder": "descending"}
    )
    assert [r["name"]["givenName"] for r in body["Resources"]] == ["Dan", "Carol", "Bob", "Alice"]
    status, body, _ = await acme.request("GET", "/Users", params={"count": "-5"})
    assert status == 200 and body["Resources"] == [] and body["totalResults"] == 4
    status, body, _ = await acme.request(
        "GET", "/Users", params={"count": "99999999999999999999", "startIndex": "-3"}
    )
    assert status == 200 and len(body["Resources"]) == 4 and body["startIndex"] == 1
    status, body, _ = await acme.request("GET", "/Users", params={"count": "lots"})
    assert_error(status, body, 400, "invalidValue")
    status, body, _ = await acme.request("GET", "/Users", params={"sortBy": "nosuch"})
    assert_error(status, body, 400)


async def test_cursor_paging(acme: Tenant, people: Any) -> None:
    seen = []
    params: dict[str, str] = {"cursor": "", "count": "3", "sortBy": "userName"}
    for _ in range(5):
        status, body, _ = await acme.request("GET", "/Users", params=params)
        assert status == 200, body
        assert "startIndex" not in body
        seen += [r["userName"] for r in body["Resources"]]
        if "nextCursor" not in body:
            break
        params["cursor"] = body["nextCursor"]
    assert seen == sorted(seen) and len(seen) == 4
    status, body, _ = await acme.request("GET", "/Users", params={"cursor": "garbage!!"})
    assert_error(status, body, 400, "invalidCursor")


async def test_attributes_and_excluded_attributes(acme: Tenant, people: Any) -> None:
    alice = people["Alice"]
    status, body, _ = await acme.request(
        "GET",
        f"/Users/{alice['id']}",
        params={"attributes": f"userName,emails.value,{ENTERPRISE}:employeeNumber"},
    )
    assert status == 200
    assert body == {
        "schemas": alice["schemas"],
        "id": alice["id"],
        "userName": "alice@corp.com",
        "emails": [{"value": "alice@corp.com"}],
        ENTERPRISE: {"employeeNumber": "1"},
    }
    status, body, _ = await acme.request(
        "GET",
        "/Users",
        params={"excludedAttributes": "emails,name,meta", "filter": 'userName eq "alice@corp.com"'},
    )
    (only,) = body["Resources"]
    assert "emails" not in only and "name" not in only and "meta" not in only and only["userName"]


async def test_search_endpoint(acme: Tenant, people: Any) -> None:
    status, body, _ = await acme.request(
        "POST",
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'title eq "Engineer"',
            "attributes": ["userName"],
            "sortBy": "userName",
            "startIndex": 1,
            "count": 10,
        },
    )
    assert status == 200, body
    assert [r["userName"] for r in body["Resources"]] == ["alice@corp.com", "carol@other.org"]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}


# -- PATCH on users --------------------------------------------------------------------------


async def test_patch_dialects_on_users(acme: Tenant) -> None:
    user = await create_user(
        acme,
        "gina@example.com",
        emails=[{"value": "gina@example.com", "type": "work", "primary": True}],
    )
    path = f"/Users/{user['id']}"
    # Entra: capitalised op, boolean string, dotted and URN keys in a path-less value.
    status, body = await patch(
        acme,
        path,
        {
            "op": "Replace",
            "value": {
                "active": "False",
                "name.givenName": "Gina",
                f"{ENTERPRISE}:department": "Ops",
                "id": "ignored",
                "schemas": ["x"],
            },
        },
        {"op": "Add", "path": "title", "value": "Lead"},
    )
    assert status == 200, body
    assert body["active"] is False and body["name"]["givenName"] == "Gina"
    assert body[ENTERPRISE] == {"department": "Ops"} and body["title"] == "Lead"
    # Filtered path that matches nothing creates the element; one that matches updates it.
    status, body = await patch(
        acme,
        path,
        {"op": "replace", "path": 'emails[type eq "home"].value', "value": "gina@home.example.com"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "gina.w@example.com"},
        {"op": "replace", "path": 'addresses[type eq "work"].locality', "value": "Paris"},
    )
    assert status == 200, body
    assert body["emails"] == [
        {"value": "gina.w@example.com", "type": "work", "primary": True},
        {"value": "gina@home.example.com", "type": "home", "primary": False},
    ]
    assert body["addresses"] == [{"type": "work", "locality": "Paris"}]
    # Remove through a filter, and a whole attribute; URN-qualified path.
    status, body = await patch(
        acme,
        path,
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "remove", "path": "title"},
        {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": "mgr-1"},
        {"op": "Replace", "path": "active", "value": "True"},
    )
    assert status == 200, body
    assert [e["type"] for e in body["emails"]] == ["work"]
    assert "title" not in body and body["active"] is True
    assert body[ENTERPRISE] == {"department": "Ops", "manager": {"value": "mgr-1"}}
    # An empty Operations list changes nothing.
    status, same = await patch(acme, path)
    assert status == 200 and same["meta"]["version"] == body["meta"]["version"]


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "replace", "path": "id", "value": "x"}], "mutability"),
        ([{"op": "replace", "path": "meta.created", "value": "x"}], "mutability"),
        ([{"op": "add", "path": "groups", "value": [{"value": "g"}]}], "mutability"),
        ([{"op": "replace", "path": "nosuch", "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "emails[type eq", "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "title"}], "invalidValue"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "replace", "value": "not an object"}], "invalidValue"),
        ([{"op": "replace", "value": {"nosuch": 1}}], "invalidPath"),
        ([{"op": "move", "path": "title", "value": "x"}], "invalidSyntax"),
        ([{"path": "title", "value": "x"}], "invalidSyntax"),
        (["not an op"], "invalidSyntax"),
        ([{"op": "replace", "path": "active", "value": "perhaps"}], "invalidValue"),
        ([{"op": "remove", "path": "userName"}], "mutability"),
        ([{"op": "remove", "path": "active"}], "mutability"),
        (
            [{"op": "replace", "path": 'emails[type ne "x"].value', "value": "a@example.com"}],
            "noTarget",
        ),
        ([{"op": "replace", "path": "name.givenName", "value": {"a": 1}}], "invalidValue"),
    ],
)
async def test_malformed_patches_are_400s(
    acme: Tenant, operations: list[Any], scim_type: str
) -> None:
    user = await create_user(acme, "hank@example.com")
    status, body = await patch(acme, f"/Users/{user['id']}", *operations)
    assert_error(status, body, 400, scim_type)


async def test_patch_removes_external_id_and_whole_extension(acme: Tenant) -> None:
    user = await create_user(
        acme, "joe@example.com", externalId="ext-joe", **{ENTERPRISE: {"department": "Ops"}}
    )
    status, body = await patch(
        acme,
        f"/Users/{user['id']}",
        {"op": "remove", "path": "externalId"},
        {"op": "remove", "path": ENTERPRISE},
    )
    assert status == 200, body
    assert "externalId" not in body and ENTERPRISE not in body
    assert body["schemas"] == [USER]
    status, body = await patch(
        acme,
        f"/Users/{user['id']}",
        {"op": "add", "path": ENTERPRISE, "value": {"costCenter": "42", "division": "EU"}},
    )
    assert status == 200 and body[ENTERPRISE] == {"costCenter": "42", "division": "EU"}


async def test_patch_without_operations_key_and_too_many_ops(acme: Tenant) -> None:
    user = await create_user(acme, "ivy@example.com")
    status, body, _ = await acme.request("PATCH", f"/Users/{user['id']}", json={"schemas": [PATCH]})
    assert_error(status, body, 400, "invalidSyntax")
    ops = [{"op": "replace", "path": "title", "value": str(i)} for i in range(1001)]
    status, body = await patch(acme, f"/Users/{user['id']}", *ops)
    assert_error(status, body, 400, "tooMany")


# -- groups ----------------------------------------------------------------------------------


async def test_groups_crud_and_membership(acme: Tenant) -> None:
    a = await create_user(acme, "a@example.com")
    b = await create_user(acme, "b@example.com")
    c = await create_user(acme, "c@example.com")
    status, group, headers = await acme.request(
        "POST",
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Eng",
            "externalId": "g-1",
            "members": [{"value": a["id"]}, {"value": b["id"]}],
        },
    )
    assert status == 201, group
    gid = group["id"]
    assert headers["Location"].endswith(f"/Groups/{gid}")
    assert {m["value"] for m in group["members"]} == {a["id"], b["id"]}
    assert all(m["type"] == "User" and m["$ref"].endswith(m["value"]) for m in group["members"])
    status, user, _ = await acme.request("GET", f"/Users/{a['id']}")
    assert [g["value"] for g in user["groups"]] == [gid]

    # Entra: remove with a value array removes only those members.
    status, body = await patch(
        acme, f"/Groups/{gid}", {"op": "Remove", "path": "members", "value": [{"value": a["id"]}]}
    )
    assert status == 200, body
    assert [m["value"] for m in body["members"]] == [b["id"]]
    # Okta: add members, remove one through a filter.
    status, body = await patch(
        acme,
        f"/Groups/{gid}",
        {
            "op": "add",
            "path": "members",
            "value": [{"value": a["id"], "display": "a"}, {"value": c["id"]}],
        },
        {"op": "remove", "path": f'members[value eq "{b["id"]}"]'},
    )
    assert status == 200, body
    assert {m["value"] for m in body["members"]} == {a["id"], c["id"]}
    # Okta rename: replace with {"id", "displayName"}.
    status, body = await patch(
        acme,
        f"/Groups/{gid}",
        {"op": "replace", "value": {"id": gid, "displayName": "Engineering"}},
    )
    assert status == 200 and body["displayName"] == "Engineering"
    assert {m["value"] for m in body["members"]} == {a["id"], c["id"]}
    # Okta: replace members sets exactly those.
    status, body = await patch(
        acme, f"/Groups/{gid}", {"op": "replace", "path": "members", "value": [{"value": b["id"]}]}
    )
    assert status == 200 and [m["value"] for m in body["members"]] == [b["id"]]
    # excludedAttributes=members, and filter on displayName / members.
    status, body, _ = await acme.request(
        "GET", f"/Groups/{gid}", params={"excludedAttributes": "members"}
    )
    assert status == 200 and "members" not in body and body["displayName"] == "Engineering"
    status, body, _ = await acme.request(
        "GET",
        "/Groups",
        params={"filter": 'displayName eq "engineering"', "excludedAttributes": "members"},
    )
    assert body["totalResults"] == 1 and "members" not in body["Resources"][0]
    status, body, _ = await acme.request(
        "GET", "/Groups", params={"filter": f'members[value eq "{b["id"]}"]'}
    )
    assert [g["id"] for g in body["Resources"]] == [gid]
    # PUT replaces members too.
    status, body, _ = await acme.request(
        "PUT",
        f"/Groups/{gid}",
        json={"displayName": "Engineering", "members": [{"value": c["id"]}]},
    )
    assert status == 200 and [m["value"] for m in body["members"]] == [c["id"]]
    # Unknown member is a 400, duplicate name a 409.
    status, body = await patch(
        acme, f"/Groups/{gid}", {"op": "add", "path": "members", "value": [{"value": "nobody"}]}
    )
    assert_error(status, body, 400, "invalidValue")
    status, body, _ = await acme.request("POST", "/Groups", json={"displayName": "ENGINEERING"})
    assert_error(status, body, 409, "uniqueness")
    # Remove all members, then delete.
    status, body = await patch(acme, f"/Groups/{gid}", {"op": "remove", "path": "members"})
    assert status == 200 and body.get("members", []) == []
    status, _, _ = await acme.request("DELETE", f"/Groups/{gid}")
    assert status == 204
    status, body, _ = await acme.request("GET", f"/Groups/{gid}")
    assert_error(status, body, 404)


async def test_concurrent_membership_patches_all_land(acme: Tenant) -> None:
    import asyncio

    users = [await create_user(acme, f"m{i}@example.com") for i in range(12)]
    _status, group, _ = await acme.request("POST", "/Groups", json={"displayName": "Many"})
    gid = group["id"]
    results = await asyncio.gather(
        *(
            patch(
                acme,
                f"/Groups/{gid}",
                {"op": "add", "path": "members", "value": [{"value": u["id"]}]},
            )
            for u in users
        )
    )
    assert all(status == 200 for status, _ in results)
    _, body, _ = await acme.request("GET", f"/Groups/{gid}")
    assert len(body["members"]) == 12
    # Concurrent non-member patches (read-modify-write) retry on conflicts and all land.
    results = await asyncio.gather(
        *(
            patch(acme, f"/Users/{u['id']}", {"op": "replace", "path": "title", "value": "T"})
            for u in users[:4]
        ),
        *(
            patch(acme, f"/Groups/{gid}", {"op": "replace", "path": "externalId", "value": f"e{i}"})
            for i in range(4)
        ),
    )
    assert all(status == 200 for status, _ in results), results


# -- Bulk ------------------------------------------------------------------------------------

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


async def test_bulk_with_bulk_id_references(acme: Tenant) -> None:
    status, body, _ = await acme.request(
        "POST",
        "/Bulk",
        json={
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "u1",
                    "data": {"userName": "bulk1@example.com"},
                },
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "u2",
                    "data": {"userName": "bulk2@example.com"},
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g1",
                    "data": {"displayName": "Bulk", "members": [{"value": "bulkId:u1"}]},
                },
                {
                    "method": "PATCH",
                    "path": "/Groups/bulkId:g1",
                    "data": {
                        "Operations": [
                            {"op": "add", "path": "members", "value": [{"value": "bulkId:u2"}]}
                        ]
                    },
                },
                {
                    "method": "PUT",
                    "path": "/Users/bulkId:u2",
                    "version": 'W/"1"',
                    "data": {"userName": "bulk2@example.com", "title": "T"},
                },
                {"method": "DELETE", "path": "/Users/bulkId:u1"},
            ],
        },
    )
    assert status == 200, body
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    ops = body["Operations"]
    assert [op["status"] for op in ops] == ["201", "201", "201", "200", "200", "204"]
    assert ops[0]["bulkId"] == "u1" and ops[0]["location"].endswith(
        "/Users/" + ops[0]["location"].rsplit("/", 1)[1]
    )
    assert ops[4]["version"] == 'W/"2"'
    group_id = ops[2]["location"].rsplit("/", 1)[1]
    u2 = ops[1]["location"].rsplit("/", 1)[1]
    status, group, _ = await acme.request("GET", f"/Groups/{group_id}")
    assert {m["value"] for m in group["members"]} == {u2}  # u1 was deleted afterwards


async def test_bulk_errors_fail_on_errors_and_limits(acme: Tenant) -> None:
    status, body, _ = await acme.request(
        "POST",
        "/Bulk",
        json={
            "schemas": [BULK],
            "failOnErrors": 2,
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "a",
                    "data": {"userName": "dup@example.com"},
                },
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "b",
                    "data": {"userName": "dup@example.com"},
                },
                {"method": "PATCH", "path": "/Users/bulkId:nope", "data": {"Operations": []}},
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "c",
                    "data": {"userName": "never@example.com"},
                },
            ],
        },
    )
    assert status == 200, body
    ops = body["Operations"]
    assert [op["status"] for op in ops] == ["201", "409", "409"]
    assert ops[1]["response"]["scimType"] == "uniqueness"
    assert ops[2]["response"]["schemas"] == [ERROR]
    _, listed, _ = await acme.request(
        "GET", "/Users", params={"filter": 'userName eq "never@example.com"'}
    )
    assert listed["totalResults"] == 0
    too_many = [{"method": "DELETE", "path": "/Users/x"}] * 1001
    status, body, _ = await acme.request(
        "POST", "/Bulk", json={"schemas": [BULK], "Operations": too_many}
    )
    assert_error(status, body, 413, "tooMany")  # RFC 7644 §3.7.4
    status, body, _ = await acme.request("POST", "/Bulk", json={"schemas": [BULK]})
    assert_error(status, body, 400, "invalidSyntax")
    status, body, _ = await acme.request("GET", "/Bulk")
    assert_error(status, body, 405)
