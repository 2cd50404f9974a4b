"""Okta, request by request, as its SCIM 2.0 documentation shows them.

Sources: Okta Developer, "SCIM 2.0 protocol reference" and "Build a SCIM provisioning
integration" (https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20/ and
https://developer.okta.com/docs/guides/scim-provisioning-integration-prepare/). Okta looks a
user up by ``userName eq`` before creating it, sends the password on create, deactivates with a
path-less ``replace`` of ``{"active": false}`` (never DELETE), updates catalog (OIN) apps with
PATCH and wizard-made apps with a full PUT, and pushes groups with a rename that carries the
group's ``id`` inside the value, member additions, ``members[value eq "..."]`` removals and
``replace members``.
"""

from __future__ import annotations

from tests.interop.idp import GROUP, USER, failed, listed, member_ids, ok, patch_body
from tests.scim.stack import ScimStack

OKTA_USER = {
    "schemas": [USER],
    "userName": "test.user@example.com",
    "name": {"givenName": "Test", "familyName": "User"},
    "emails": [{"primary": True, "value": "test.user@example.com", "type": "work"}],
    "displayName": "Test User",
    "locale": "en-US",
    "externalId": "00ujl29u0le5T6Aj10h7",
    "groups": [],
    "password": "1mz050nq",
    "active": True,
}


async def test_okta_oin_user_lifecycle(stack: ScimStack) -> None:
    okta = await stack.tenant("okta-oin")
    # "Test Connector Configuration": a small page of users.
    page = await listed(okta, "/Users", startIndex="1", count="2")
    assert page["totalResults"] == 0 and page["startIndex"] == 1

    # Lookup before create, then create.
    found = await listed(
        okta, "/Users", filter='userName eq "test.user@example.com"', startIndex="1", count="100"
    )
    assert found["totalResults"] == 0 and found["Resources"] == []
    created = await ok(okta, "POST", "/Users", 201, json=OKTA_USER)
    uid = created["id"]
    assert created["userName"] == "test.user@example.com" and created["active"] is True
    assert "password" not in created and created["externalId"] == "00ujl29u0le5T6Aj10h7"

    # A retried create (Okta retries on timeouts) is a 409, never a second account.
    conflict = await failed(okta, "POST", "/Users", 409, "uniqueness", json=OKTA_USER)
    assert uid in conflict["detail"]

    assert (await ok(okta, "GET", f"/Users/{uid}"))["id"] == uid

    # Profile update (OIN apps PATCH), including a password change Okta pushes.
    updated = await ok(
        okta,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body(
            {
                "op": "replace",
                "value": {
                    "name": {"givenName": "Tess", "familyName": "User"},
                    "displayName": "Tess User",
                },
            },
            {"op": "replace", "value": {"password": "n3w-pa55"}},
        ),
    )
    assert updated["name"] == {"givenName": "Tess", "familyName": "User"}
    assert "password" not in updated

    # Deactivate, then reactivate: path-less replace of active.
    off = await ok(
        okta,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body({"op": "replace", "value": {"active": False}}),
    )
    assert off["active"] is False
    assert (await ok(okta, "GET", f"/Users/{uid}"))["active"] is False
    found = await listed(okta, "/Users", filter='userName eq "test.user@example.com"')
    assert [u["id"] for u in found["Resources"]] == [uid]  # still found while deactivated
    on = await ok(
        okta,
        "PATCH",
        f"/Users/{uid}",
        json=patch_body({"op": "replace", "value": {"active": True}}),
    )
    assert on["active"] is True


async def test_okta_wizard_app_updates_with_put(stack: ScimStack) -> None:
    okta = await stack.tenant("okta-wizard")
    created = await ok(okta, "POST", "/Users", 201, json=OKTA_USER)
    uid = created["id"]
    # Wizard-made (custom) apps send the whole user back with PUT, id included.
    replaced = await ok(
        okta,
        "PUT",
        f"/Users/{uid}",
        json={
            **OKTA_USER,
            "id": uid,
            "userName": "test.user2@example.com",
            "name": {"givenName": "Test", "familyName": "User2"},
            "emails": [{"primary": True, "value": "test.user2@example.com", "type": "work"}],
        },
    )
    assert replaced["id"] == uid and replaced["userName"] == "test.user2@example.com"
    assert replaced["emails"][0]["value"] == "test.user2@example.com"
    # Deactivation by PUT with active false.
    off = await ok(okta, "PUT", f"/Users/{uid}", json={**OKTA_USER, "id": uid, "active": False})
    assert off["active"] is False and off["userName"] == "test.user@example.com"


async def test_okta_group_push(stack: ScimStack) -> None:
    okta = await stack.tenant("okta-groups")
    alice = await ok(okta, "POST", "/Users", 201, json={**OKTA_USER, "externalId": "00u-a"})
    bob = await ok(
        okta,
        "POST",
        "/Users",
        201,
        json={**OKTA_USER, "userName": "bob@example.com", "externalId": "00u-b"},
    )
    found = await listed(okta, "/Groups", filter='displayName eq "Test SCIMv2"')
    assert found["totalResults"] == 0
    group = await ok(
        okta,
        "POST",
        "/Groups",
        201,
        json={"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []},
    )
    gid = group["id"]
    assert group["displayName"] == "Test SCIMv2" and group["members"] == []
    assert (await ok(okta, "GET", f"/Groups/{gid}"))["id"] == gid

    # Rename: replace with id and displayName in the value.
    renamed = await ok(
        okta,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 renamed"}}
        ),
    )
    assert renamed["displayName"] == "Test SCIMv2 renamed"

    # Push memberships: add, remove by filter, replace.
    added = await ok(
        okta,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {
                "op": "add",
                "path": "members",
                "value": [
                    {"value": alice["id"], "display": "test.user@example.com"},
                    {"value": bob["id"], "display": "bob@example.com"},
                ],
            }
        ),
    )
    assert member_ids(added) == {alice["id"], bob["id"]}
    removed = await ok(
        okta,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "remove", "path": f'members[value eq "{alice["id"]}"]'}),
    )
    assert member_ids(removed) == {bob["id"]}
    # Removing someone who is no longer a member is not an error (Okta retries).
    await ok(
        okta,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "remove", "path": f'members[value eq "{alice["id"]}"]'}),
    )
    replaced = await ok(
        okta,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "replace", "path": "members", "value": [{"value": alice["id"], "display": "a"}]}
        ),
    )
    assert member_ids(replaced) == {alice["id"]}
    user = await ok(okta, "GET", f"/Users/{alice['id']}")
    assert [g["value"] for g in user["groups"]] == [gid]

    # Okta imports groups; then the group is deleted.
    groups = await listed(okta, "/Groups", startIndex="1", count="100")
    assert [g["id"] for g in groups["Resources"]] == [gid]
    await ok(okta, "DELETE", f"/Groups/{gid}", 204)
    await failed(okta, "GET", f"/Groups/{gid}", 404)


async def test_okta_import_pages_through_users(stack: ScimStack) -> None:
    okta = await stack.tenant("okta-import")
    ids = set()
    for i in range(7):
        body = await ok(
            okta,
            "POST",
            "/Users",
            201,
            json={**OKTA_USER, "userName": f"u{i}@example.com", "externalId": f"00u{i}"},
        )
        ids.add(body["id"])
    seen: set[str] = set()
    start = 1
    while True:
        page = await listed(okta, "/Users", startIndex=str(start), count="3")
        assert page["totalResults"] == 7 and page["startIndex"] == start
        seen |= {u["id"] for u in page["Resources"]}
        if start + page["itemsPerPage"] > page["totalResults"] or not page["Resources"]:
            break
        start += page["itemsPerPage"]
    assert seen == ids
