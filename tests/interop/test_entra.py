"""Microsoft Entra ID, request by request, with and without its 2020 PATCH behaviour flag.

Sources: Microsoft Learn, "Tutorial: Develop and plan provisioning for a SCIM endpoint in
Microsoft Entra ID" (its "User operations" and "Group operations" request samples) and "Known
issues and resolutions with SCIM 2.0 protocol compliance of the Microsoft Entra user
provisioning service" (what changes with ``?aadOptscim062020``). Entra's test connection is a
filtered GET with no Accept header and ``+`` for spaces; it matches users on ``userName`` (or
``externalId``, or ``emails[type eq "work"].value``) before creating; it capitalises ``op``;
without the flag it sends ``"False"`` as a string and removes members with a ``value`` array;
with the flag it sends path-less value objects whose keys are attribute paths.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.interop.idp import ENTERPRISE, GROUP, USER, failed, listed, member_ids, ok, patch_body
from tests.scim.stack import ScimStack, Tenant


def entra_user(user_name: str, external_id: str) -> dict[str, object]:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": f"{user_name}@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


async def test_connection(stack: ScimStack) -> None:
    entra = await stack.tenant("entra-test")
    # Raw query string with '+' for spaces and no Accept header, as Entra sends it.
    async with entra.http.get(
        f"{entra.base}/Users?filter=userName+eq+%22{uuid.uuid4()}%22",
        headers={"Authorization": f"Bearer {entra.token}"},
        skip_auto_headers=["Accept"],
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/scim+json"
        body = await response.json(content_type=None)
    assert body["totalResults"] == 0 and body["Resources"] == []
    # A wrong token fails the test connection clearly.
    async with entra.http.get(
        f"{entra.base}/Users?filter=userName+eq+%22x%22",
        headers={"Authorization": "Bearer wrong"},
    ) as response:
        assert response.status == 401


async def _create(entra: Tenant, user_name: str) -> dict[str, object]:
    found = await listed(entra, "/Users", filter=f'userName eq "{user_name}"')
    assert found["totalResults"] == 0
    created = await ok(entra, "POST", "/Users", 201, json=entra_user(user_name, str(uuid.uuid4())))
    assert created["userName"] == user_name
    return dict(created)


async def test_user_operations_without_the_flag(stack: ScimStack) -> None:
    entra = await stack.tenant("entra-legacy")
    name = f"Test_User_{uuid.uuid4()}"
    user = await _create(entra, name)
    uid = user["id"]
    await failed(
        entra, "POST", "/Users", 409, "uniqueness", json=entra_user(name, str(uuid.uuid4()))
    )

    # Matching by the other attributes Entra can be configured with.
    by_external = await listed(entra, "/Users", filter=f'externalId eq "{user["externalId"]}"')
    assert [u["id"] for u in by_external["Resources"]] == [uid]
    by_mail = await listed(
        entra, "/Users", filter=f'emails[type eq "work"].value eq "{name}@testuser.com"'
    )
    assert [u["id"] for u in by_mail["Resources"]] == [uid]

    # Update: multi-valued through a filter, single-valued, the enterprise manager as a string.
    updated = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body(
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "updatedEmail@microsoft.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {
                "op": "Add",
                "path": f"{ENTERPRISE}:manager",
                "value": "2819c223-7f76-453a-919d-413861904646",
            },
        ),
    )
    assert updated["emails"] == [
        {"value": "updatedEmail@microsoft.com", "type": "work", "primary": True}
    ]
    assert updated["name"]["familyName"] == "updatedFamilyName" and updated["nickName"] == "Babs"
    assert updated[ENTERPRISE]["manager"] == {"value": "2819c223-7f76-453a-919d-413861904646"}
    renamed = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body(
            {"op": "Replace", "path": "userName", "value": f"{uuid.uuid4()}@testuser.com"}
        ),
    )
    assert renamed["id"] == uid

    # Disable: the boolean as a capitalised string.
    off = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body({"op": "Replace", "path": "active", "value": "False"}),
    )
    assert off["active"] is False
    on = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body({"op": "Replace", "path": "active", "value": "True"}),
    )
    assert on["active"] is True

    await ok(entra, "DELETE", f"/Users/{uid}", 204)
    await failed(entra, "GET", f"/Users/{uid}", 404)


async def test_user_operations_with_aadoptscim062020(stack: ScimStack) -> None:
    entra = await stack.tenant("entra-2020")
    user = await _create(entra, f"Test_User_{uuid.uuid4()}")
    uid = user["id"]
    updated = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body(
            {
                "op": "replace",
                "value": {
                    'emails[type eq "work"].value': "new@example.com",
                    "name.givenName": "Barbara",
                    "name.familyName": "Jensen",
                    f"{ENTERPRISE}:employeeNumber": "701984",
                    f"{ENTERPRISE}:department": "Tour Operations",
                },
            },
            {"op": "add", "value": {"nickName": "Babs", "title": "Tour Guide"}},
        ),
    )
    assert updated["emails"][0]["value"] == "new@example.com"
    assert updated["name"]["givenName"] == "Barbara" and updated["name"]["familyName"] == "Jensen"
    assert updated[ENTERPRISE] == {"employeeNumber": "701984", "department": "Tour Operations"}
    assert updated["nickName"] == "Babs" and updated["title"] == "Tour Guide"
    off = await ok(
        entra,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body({"op": "replace", "value": {"active": False}}),
    )
    assert off["active"] is False
    found = await listed(entra, "/Users", filter=f'{ENTERPRISE}:employeeNumber eq "701984"')
    assert [u["id"] for u in found["Resources"]] == [uid]


async def _group_with_members(entra: Tenant, count: int) -> tuple[str, list[str]]:
    ids = [
        str(
            (
                await ok(
                    entra,
                    "POST",
                    "/Users",
                    201,
                    json=entra_user(f"m{i}-{uuid.uuid4()}", str(uuid.uuid4())),
                )
            )["id"]
        )
        for i in range(count)
    ]
    group = await ok(
        entra,
        "POST",
        "/Groups",
        201,
        json={
            "schemas": [
                GROUP,
                "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group",
            ],
            "externalId": str(uuid.uuid4()),
            "displayName": f"Group {uuid.uuid4()}",
            "meta": {"resourceType": "Group"},
        },
    )
    assert group["members"] == []
    return str(group["id"]), ids


async def test_group_operations_without_the_flag(stack: ScimStack) -> None:
    entra = await stack.tenant("entra-groups-legacy")
    gid, (a, b, c) = await _group_with_members(entra, 3)
    got = await ok(entra, "GET", f"/Groups/{gid}", params={"excludedAttributes": "members"})
    assert "members" not in got
    name = got["displayName"]
    found = await listed(
        entra, "/Groups", excludedAttributes="members", filter=f'displayName eq "{name}"'
    )
    assert [g["id"] for g in found["Resources"]] == [gid] and "members" not in found["Resources"][0]

    await ok(
        entra,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "Replace", "path": "displayName", "value": f"{name}updatedDisplayName"}
        ),
    )
    await ok(
        entra,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": m} for m in (a, b, c)],
            }
        ),
    )
    # Remove with a value array: only that member goes, never the whole group.
    after = await ok(
        entra,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": a}]}),
    )
    assert member_ids(after) == {b, c}
    assert after["displayName"] == f"{name}updatedDisplayName"
    await ok(entra, "DELETE", f"/Groups/{gid}", 204)


async def test_group_operations_with_the_flag_and_parallel_membership(stack: ScimStack) -> None:
    entra = await stack.tenant("entra-groups-2020")
    gid, members = await _group_with_members(entra, 10)
    # Entra sends membership changes for one group concurrently; none may be lost.
    results = await asyncio.gather(
        *(
            entra.request(
                "PATCH",
                f"/Groups/{gid}",
                json=patch_body({"op": "add", "path": "members", "value": [{"value": m}]}),
            )
            for m in members
        )
    )
    assert [status for status, _, _ in results] == [200] * 10
    group = await ok(entra, "GET", f"/Groups/{gid}")
    assert member_ids(group) == set(members)
    after = await ok(
        entra,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "remove", "path": f'members[value eq "{members[0]}"]'},
            {"op": "remove", "path": f'members[value eq "{members[1]}"]'},
        ),
    )
    assert member_ids(after) == set(members[2:])
    # A group that does not exist is a 404, not a silent success.
    await failed(
        entra,
        "PATCH",
        "/Groups/00000000-0000-0000-0000-000000000000",
        404,
        json=patch_body({"op": "add", "path": "members", "value": [{"value": members[0]}]}),
    )
