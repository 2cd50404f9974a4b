"""JumpCloud's "Custom SCIM Identity Management" integration, request by request.

Sources: JumpCloud Support, "Identity Management using a Custom SCIM Integration"
(https://jumpcloud.com/support/provision-and-manage-users-and-groups-in-apps-using-custom-scim-identity-management-integration):
"Test Connection" creates a test user and a test group and deletes both when DELETE is
supported; users are matched on ``userName`` (attribute table: username -> userName,
firstname -> name.givenName, lastname -> name.familyName); group membership changes are PATCHes
whose removals carry a ``value`` array of members (the Azure-style form, without a filter);
empty groups are not created; group renames are supported; a deactivated user is suspended with
``active: false``.
"""

from __future__ import annotations

from tests.interop.idp import GROUP, USER, failed, listed, member_ids, ok, patch_body
from tests.scim.stack import ScimStack


def jc_user(user_name: str, given: str, family: str, active: bool = True) -> dict[str, object]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "displayName": f"{given} {family}",
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": active,
    }


async def test_jumpcloud_test_connection_creates_and_deletes_test_resources(
    stack: ScimStack,
) -> None:
    jc = await stack.tenant("jumpcloud-test")
    await listed(jc, "/Users", filter='userName eq "jctest@example.com"')
    user = await ok(jc, "POST", "/Users", 201, json=jc_user("jctest@example.com", "JC", "Test"))
    group = await ok(
        jc,
        "POST",
        "/Groups",
        201,
        json={
            "schemas": [GROUP],
            "displayName": "JumpCloud Test Group",
            "members": [{"value": user["id"]}],
        },
    )
    await ok(jc, "DELETE", f"/Groups/{group['id']}", 204)
    await ok(jc, "DELETE", f"/Users/{user['id']}", 204)
    assert (await listed(jc, "/Users"))["totalResults"] == 0
    assert (await listed(jc, "/Groups"))["totalResults"] == 0


async def test_jumpcloud_users_and_group_sync(stack: ScimStack) -> None:
    jc = await stack.tenant("jumpcloud")
    ids = []
    for name in ("ann", "ben", "cal"):
        assert (await listed(jc, "/Users", filter=f'userName eq "{name}@example.com"'))[
            "totalResults"
        ] == 0
        ids.append(
            (await ok(jc, "POST", "/Users", 201, json=jc_user(f"{name}@example.com", name, "X")))[
                "id"
            ]
        )
    ann, ben, cal = ids

    # A JumpCloud user group bound to the app: created with its members, then synced.
    group = await ok(
        jc,
        "POST",
        "/Groups",
        201,
        json={
            "schemas": [GROUP],
            "displayName": "Engineering",
            "members": [{"value": ann}, {"value": ben}],
        },
    )
    gid = group["id"]
    synced = await ok(
        jc,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "add", "path": "members", "value": [{"value": cal}]},
            {"op": "remove", "path": "members", "value": [{"value": ann}]},
        ),
    )
    assert member_ids(synced) == {ben, cal}
    renamed = await ok(
        jc,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "replace", "path": "displayName", "value": "Engineering EU"}),
    )
    assert renamed["displayName"] == "Engineering EU" and member_ids(renamed) == {ben, cal}

    # A user's attributes change, then the user is suspended and restored.
    changed = await ok(
        jc,
        "PATCH",
        f"/Users/{ben}",
        json=patch_body(
            {"op": "replace", "path": "name.familyName", "value": "Young"},
            {"op": "replace", "path": "displayName", "value": "ben Young"},
        ),
    )
    assert changed["name"]["familyName"] == "Young"
    off = await ok(
        jc, "PUT", f"/Users/{ben}", json=jc_user("ben@example.com", "ben", "Young", active=False)
    )
    assert off["active"] is False
    assert member_ids(await ok(jc, "GET", f"/Groups/{gid}")) == {ben, cal}  # still a member
    on = await ok(
        jc,
        "PATCH",
        f"/Users/{ben}",
        json=patch_body({"op": "replace", "path": "active", "value": True}),
    )
    assert on["active"] is True

    # The group is deleted in JumpCloud: deleted in the app.
    await ok(jc, "DELETE", f"/Groups/{gid}", 204)
    await failed(jc, "GET", f"/Groups/{gid}", 404)
    user = await ok(jc, "GET", f"/Users/{ben}")
    assert "groups" not in user
