"""Attacks on the SCIM endpoint, sent as an attacker sends them (raw paths, byte for byte), on
both pairings. Each asserts why it was refused, not only that it was.

Finding 2 of issue 8: ``GET /scim/v2/acme/Users/..%2F..%2F<globex id>%2Fusers%2F<id>`` with
acme's token returned globex's user, because the ``{id}`` was pasted into the user-store's URL and
normalised there. Now an id not of the form Roster mints is a SCIM 404 in scim-api itself (the
detail says the id is not one this endpoint issues, which an unknown but well-formed id never
gets), and the client quotes every segment anyway (``shared/tests/test_ids.py``).
"""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from tests.scim.stack import ERROR, ScimStack, Tenant

READER_TOO = True
"""Also on Kafka + PostgreSQL with the scim-api reading as the reader role (conftest)."""
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
MALFORMED = "not found: the id is not one this endpoint issues"


async def send(tenant: Tenant, method: str, tail: str, **kw: Any) -> tuple[int, Any, str]:
    """One request under the tenant's base with ``tail`` sent exactly as written (no client-side
    quoting or normalisation): ``(status, JSON body, raw text)``."""
    url = URL(f"{tenant.base}/{tail}", encoded=True)
    headers = {"Authorization": f"Bearer {tenant.token}"}
    async with tenant.http.request(method, url, headers=headers, **kw) as response:
        text = await response.text()
        assert response.content_type == "application/scim+json", text[:300]
        return response.status, await response.json(content_type=None), text


def traversals(tenant_id: str, kind: str, resource_id: str) -> list[str]:
    """The victim's internal path, climbed to from acme's, in the encodings an attacker tries."""
    target = [tenant_id, kind, resource_id]
    return [
        "%2F".join(["..", "..", *target]),  # the reported payload
        "%2f".join(["..", "..", *target]),  # lower-case escape
        "%2F".join(["%2E%2E", "%2E%2E", *target]),  # dots encoded too
        "%252F".join(["..", "..", *target]),  # double encoding
        "%5C".join(["..", "..", *target]),  # backslash, encoded
        "\\".join(["..", "..", *target]),  # backslash, raw
        "%2F".join([resource_id, "..", "..", "..", *target]),  # starts like a real id
        "%2E%2E",  # a lone dot-segment
    ]


@pytest.fixture
async def victim(stack: ScimStack) -> dict[str, Any]:
    """globex, with a user and a group that acme's token must never reach."""
    globex = await stack.tenant("globex")
    status, user, _ = await globex.request(
        "POST",
        "/Users",
        json={
            "schemas": [USER],
            "userName": "victim@globex.example.com",
            "name": {"givenName": "Vicky", "familyName": "Victim"},
            "title": "Chief Secrets Officer",
        },
    )
    assert status == 201, user
    status, group, _ = await globex.request(
        "POST", "/Groups", json={"displayName": "Globex Board", "members": [{"value": user["id"]}]}
    )
    assert status == 201, group
    return {"tenant": globex, "user": user, "group": group}


def assert_refused_as_malformed(status: int, body: Any, text: str, victim: dict[str, Any]) -> None:
    assert status == 404, text
    assert body["schemas"] == [ERROR] and body["status"] == "404"
    assert "scimType" not in body  # RFC 7644 §3.12: a 404 has none, as for an unknown id
    assert MALFORMED in body["detail"], body  # refused in scim-api for its form
    # Nothing of globex comes back, not even the ids the attacker sent.
    for secret in (
        victim["tenant"].info.id,
        victim["user"]["id"],
        victim["group"]["id"],
        "victim@globex",
        "Vicky",
        "Chief Secrets",
        "Globex Board",
    ):
        assert secret not in text, secret


async def assert_untouched(victim: dict[str, Any]) -> None:
    globex: Tenant = victim["tenant"]
    status, user, _ = await globex.request("GET", f"/Users/{victim['user']['id']}")
    assert status == 200 and user["meta"]["version"] == victim["user"]["meta"]["version"]
    assert user["userName"] == "victim@globex.example.com" and user["active"] is True
    status, group, _ = await globex.request("GET", f"/Groups/{victim['group']['id']}")
    assert status == 200 and group["meta"]["version"] == victim["group"]["meta"]["version"]
    assert [m["value"] for m in group["members"]] == [victim["user"]["id"]]


def _requests(kind: str) -> list[tuple[str, dict[str, Any]]]:
    body: dict[str, Any] = (
        {"schemas": [USER], "userName": "mallory@acme.example.com"}
        if kind == "Users"
        else {"displayName": "Mallory's"}
    )
    return [
        ("GET", {}),
        ("PATCH", {"json": {"schemas": [PATCH], "Operations": []}}),  # echoed the victim before
        (
            "PATCH",
            {
                "json": {
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "pwned"}],
                }
            },
        ),
        ("PUT", {"json": body}),
        ("DELETE", {}),
    ]


@pytest.mark.parametrize(("kind", "internal"), [("Users", "users"), ("Groups", "groups")])
async def test_path_traversal_to_another_tenant_is_a_scim_404(
    acme: Tenant, victim: dict[str, Any], kind: str, internal: str
) -> None:
    resource = victim["user" if kind == "Users" else "group"]
    for tail in traversals(victim["tenant"].info.id, internal, resource["id"]):
        for method, kw in _requests(kind):
            status, body, text = await send(acme, method, f"{kind}/{tail}", **kw)
            assert_refused_as_malformed(status, body, text, victim)
    await assert_untouched(victim)


async def test_a_well_formed_foreign_id_is_plainly_not_found(
    acme: Tenant, victim: dict[str, Any]
) -> None:
    """The other half of "exactly like an unknown id": same status, schema, no scimType; only
    the detail differs, saying which check refused it."""
    for kind, key in (("Users", "user"), ("Groups", "group")):
        status, body, text = await send(acme, "GET", f"{kind}/{victim[key]['id']}")
        assert status == 404 and body["schemas"] == [ERROR] and "scimType" not in body
        assert MALFORMED not in body["detail"] and "not found" in body["detail"]
        assert "victim@globex" not in text and "Globex Board" not in text


async def test_bulk_operations_with_traversal_paths(acme: Tenant, victim: dict[str, Any]) -> None:
    """Bulk paths are not URL-decoded, but reach the same use cases: each operation is a 404."""
    target = "%2F".join(["..", "..", victim["tenant"].info.id, "users", victim["user"]["id"]])
    operations = [
        {"method": "PATCH", "path": f"/Users/{target}", "data": {"Operations": []}},
        {"method": "PUT", "path": f"/Users/{target}", "data": {"userName": "m@acme.example.com"}},
        {"method": "DELETE", "path": f"/Groups/{target}"},
    ]
    status, body, text = await send(
        acme, "POST", "Bulk", json={"schemas": [BULK], "Operations": operations}
    )
    assert status == 200, text
    for result in body["Operations"]:
        assert result["status"] == "404"
        assert MALFORMED in result["response"]["detail"]
    assert "victim@globex" not in text
    await assert_untouched(victim)


async def test_member_values_that_are_not_ids_are_refused(
    acme: Tenant, victim: dict[str, Any]
) -> None:
    traversal = "../../" + victim["tenant"].info.id + "/users/" + victim["user"]["id"]
    status, body, _ = await send(
        acme, "POST", "Groups", json={"displayName": "Sneaky", "members": [{"value": traversal}]}
    )
    assert status == 400 and body["scimType"] == "invalidValue"
    assert "must be the id of a user of this tenant" in body["detail"]
    # A well-formed id of another tenant's user is refused by the user-store, as unknown.
    status, body, _ = await send(
        acme,
        "POST",
        "Groups",
        json={"displayName": "Sneaky", "members": [{"value": victim["user"]["id"]}]},
    )
    assert status == 400 and body["scimType"] == "invalidValue"
    assert "no such user" in body["detail"]
    # PATCH adding one to acme's own group: found first, then the value refused.
    status, group, _ = await send(acme, "POST", "Groups", json={"displayName": "Own"})
    assert status == 201
    status, body, _ = await send(
        acme,
        "PATCH",
        f"Groups/{group['id']}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": traversal}]}],
        },
    )
    assert status == 400 and "must be the id of a user of this tenant" in body["detail"]
    await assert_untouched(victim)


@pytest.mark.parametrize(
    "tenant_segment", ["acme%2F..%2Fglobex", "..%2Fglobex", "%2E%2E", "ACME", "acme%00"]
)
async def test_a_tenant_segment_that_is_no_slug_is_a_401_like_an_unknown_tenant(
    acme: Tenant, victim: dict[str, Any], tenant_segment: str
) -> None:
    base = acme.base.rsplit("/", 1)[0]
    url = URL(f"{base}/{tenant_segment}/Users", encoded=True)
    headers = {"Authorization": f"Bearer {acme.token}"}
    async with acme.http.get(url, headers=headers) as response:
        body = await response.json(content_type=None)
        assert response.status == 401, body
        assert body["detail"] == "the bearer token is not valid for this tenant"
        assert "victim@globex" not in await response.text()
