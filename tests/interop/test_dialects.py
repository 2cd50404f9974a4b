"""The requests real clients send that RFC 7644 does not spell that way, replayed one by one on
both pairings (in-process bus + SQLite, Kafka + PostgreSQL). Each leniency is listed, with the
client that needs it, in docs/interop.md; the answer is always in the RFC's form.

Sources:
- Microsoft Learn, "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft
  Entra ID" and "Known issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft
  Entra user provisioning service": the enterprise ``manager`` sent as a plain id under the URN
  path, on the bare ``manager`` path as a list of ``{"$ref", "value"}`` objects, inside
  path-less value objects (``aadOptscim062020``), and removed with ``Remove``; Microsoft Q&A
  188003 confirms Entra sends ``"...:manager": "user-id"`` as a simple value.
- Microsoft Learn, "Microsoft Entra ID SCIM API" reference: endpoints named in lower case
  (``/users``, ``/groups``, ``/serviceproviderconfig``, ``/schemas``, ``/resourcetypes``), which
  clients and Postman collections written against it send to every SCIM server.
- curl's manual for ``-d``/``--data``: a JSON body POSTed as
  ``application/x-www-form-urlencoded`` unless a Content-Type is given; Okta Developer, "Test
  your SCIM API" (the SCIM 2.0 SPEC test collection run in Runscope/BlazeMeter), runs of which
  were seen (issue 11) posting JSON the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_testing.topics import topic_prefix

from tests.interop.idp import ENTERPRISE, LIST, USER, failed, ok, patch_body
from tests.scim.stack import PAIRINGS, ScimStack, Tenant, pairing, scim_stack


@pytest.fixture(params=PAIRINGS)
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[ScimStack]:
    bus, database = pairing(request, tmp_path, "dialects")
    async with scim_stack(bus, database, topic_prefix=topic_prefix("d")) as running:
        yield running


@pytest.fixture
async def tenant(stack: ScimStack) -> Tenant:
    return await stack.tenant("dialects")


async def test_endpoints_match_in_any_case_and_with_a_trailing_slash(tenant: Tenant) -> None:
    created = await ok(
        tenant, "POST", "/users", 201, json={"schemas": [USER], "userName": "lc@example.com"}
    )
    assert created["meta"]["location"] == f"{tenant.base}/Users/{created['id']}"
    for path in ("/users", "/USERS", "/Users/", "/users/"):
        found = await ok(tenant, "GET", path, params={"filter": 'userName eq "lc@example.com"'})
        assert found["schemas"] == [LIST] and found["totalResults"] == 1, path
    for path in (f"/users/{created['id']}", f"/Users/{created['id']}/"):
        assert (await ok(tenant, "GET", path))["id"] == created["id"]
    group = await ok(tenant, "POST", "/groups/", 201, json={"displayName": "lower"})
    assert (await ok(tenant, "GET", f"/GROUPS/{group['id']}"))["displayName"] == "lower"
    for path in ("/serviceproviderconfig", "/schemas", "/resourcetypes/", "/ResourceTypes/user"):
        await ok(tenant, "GET", path)
    searched = await ok(tenant, "POST", "/users/.SEARCH", json={"filter": "userName pr"})
    assert searched["totalResults"] == 1
    bulk = await ok(
        tenant,
        "POST",
        "/bulk",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/users/",
                    "bulkId": "b",
                    "data": {"userName": "b@x.com"},
                },
                {
                    "method": "PATCH",
                    "path": f"/GROUPS/{group['id']}",
                    "data": patch_body(
                        {"op": "add", "path": "members", "value": [{"value": "bulkId:b"}]}
                    ),
                },
            ],
        },
    )
    assert [op["status"] for op in bulk["Operations"]] == ["201", "200"], bulk
    # Still a 404 in SCIM's format for what names no endpoint, and still authenticated first.
    await failed(tenant, "GET", "/Userz", 404)
    status, _, _ = await tenant.request("GET", "/users", headers={"Authorization": "Bearer x"})
    assert status == 401


async def test_json_bodies_under_a_wrong_or_missing_content_type(tenant: Tenant) -> None:
    body = json.dumps({"schemas": [USER], "userName": "curl@example.com"})
    # curl -d '{"userName": ...}' (Okta's SPEC test collection posts the same way).
    status, created, _ = await tenant.request(
        "POST",
        "/Users",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 201 and created["userName"] == "curl@example.com", created
    # No Content-Type at all.
    status, got, _ = await tenant.request(
        "POST",
        "/Users",
        data=json.dumps({"userName": "none@example.com"}).encode(),
        skip_auto_headers=["Content-Type"],
    )
    assert status == 201, got
    # A PatchOp sent the same way.
    status, patched, _ = await tenant.request(
        "PATCH",
        f"/Users/{created['id']}",
        data=json.dumps(patch_body({"op": "replace", "path": "displayName", "value": "C"})),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200 and patched["displayName"] == "C", patched
    # What is not JSON under a foreign type stays a clear SCIM 415; declared JSON that does
    # not parse stays a 400.
    refused = await failed(
        tenant,
        "POST",
        "/Users",
        415,
        data="userName=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "application/x-www-form-urlencoded" in refused["detail"]
    await failed(
        tenant,
        "POST",
        "/Users",
        415,
        data="{not json",
        headers={"Content-Type": "text/plain"},
    )
    await failed(
        tenant,
        "POST",
        "/Users",
        400,
        "invalidSyntax",
        data="{not json",
        headers={"Content-Type": "application/scim+json"},
    )


async def test_entra_manager_in_every_documented_form(tenant: Tenant) -> None:
    boss = await ok(tenant, "POST", "/Users", 201, json={"userName": "boss@example.com"})
    other = await ok(tenant, "POST", "/Users", 201, json={"userName": "other@example.com"})
    # Create with the manager as a plain id (Entra's simple-valued mapping).
    user = await ok(
        tenant,
        "POST",
        "/Users",
        201,
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "emp@example.com",
            ENTERPRISE: {"manager": boss["id"]},
        },
    )
    uid = user["id"]
    assert user[ENTERPRISE]["manager"] == {"value": boss["id"]}

    async def manager_after(*operations: dict[str, Any]) -> Any:
        body = await ok(tenant, "PATCH", f"/Users/{uid}", json=patch_body(*operations))
        return body.get(ENTERPRISE, {}).get("manager")

    # The bare path with a list of $ref objects (Entra without the flag).
    assert await manager_after(
        {"op": "Add", "path": "manager", "value": [{"$ref": None, "value": other["id"]}]}
    ) == {"value": other["id"]}
    # Removal on the bare path.
    assert await manager_after({"op": "Remove", "path": "manager"}) is None
    # The URN path with a plain id string.
    assert await manager_after(
        {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}
    ) == {"value": boss["id"]}
    # The URN path with a $ref object.
    ref = f"{tenant.base}/Users/{other['id']}"
    assert await manager_after(
        {
            "op": "replace",
            "path": f"{ENTERPRISE}:manager",
            "value": {"$ref": ref, "value": other["id"]},
        }
    ) == {"$ref": ref, "value": other["id"]}
    # manager.value on its own.
    assert await manager_after(
        {"op": "replace", "path": f"{ENTERPRISE}:manager.value", "value": boss["id"]}
    ) == {"$ref": ref, "value": boss["id"]}
    # Removal on the URN path.
    assert await manager_after({"op": "Remove", "path": f"{ENTERPRISE}:manager"}) is None
    # Path-less value object (aadOptscim062020), then an empty id: no manager.
    assert await manager_after({"op": "Add", "value": {f"{ENTERPRISE}:manager": boss["id"]}}) == {
        "value": boss["id"]
    }
    assert (
        await manager_after({"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": ""}) is None
    )
    # The manager is found by its id, as the RFC's form stores it.
    await manager_after({"op": "Add", "path": "manager", "value": [{"value": boss["id"]}]})
    found = await ok(
        tenant, "GET", "/Users", params={"filter": f'{ENTERPRISE}:manager.value eq "{boss["id"]}"'}
    )
    assert [r["id"] for r in found["Resources"]] == [uid]
    # Two managers are not one: a list of two on a single-valued attribute is refused.
    await failed(
        tenant,
        "PATCH",
        f"/Users/{uid}",
        400,
        "invalidValue",
        json=patch_body(
            {"op": "Add", "path": "manager", "value": [{"value": boss["id"]}, {"value": uid}]}
        ),
    )
