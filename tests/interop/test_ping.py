"""PingFederate's SCIM Provisioner (outbound provisioning), request by request.

Sources: Ping Identity docs, "SCIM Provisioner - User and group management" and "SCIM
provisioner settings reference"
(https://docs.pingidentity.com/integrations/scim/pf_scim_connector_user_and_group_management.html):
PingFederate links existing users by ``userName`` ("Synchronizing existing users"), creates
users that enter the targeted datastore group, updates changed users, removes users by the
"Remove User Action" (disable: ``active`` false, or delete), synchronises existing groups by
``displayName``, provisions groups, renames them and updates their memberships. Ping's
provisioners also run a connection check with a GET of a user id that does not exist and expect
a 404.
"""

from __future__ import annotations

from tests.interop.idp import GROUP, USER, failed, listed, member_ids, ok, patch_body
from tests.scim.stack import ScimStack


def ping_user(user_name: str, family: str = "Smith", active: bool = True) -> dict[str, object]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "externalId": f"pf-{user_name}",
        "name": {"givenName": "Janet", "familyName": family},
        "emails": [{"value": f"{user_name}@example.com", "type": "work", "primary": True}],
        "active": active,
    }


async def test_ping_connection_check_and_user_lifecycle(stack: ScimStack) -> None:
    ping = await stack.tenant("ping")
    await failed(ping, "GET", "/Users/0", 404)

    # Synchronizing existing users: a user already in the app is linked by userName.
    existing = await ok(ping, "POST", "/Users", 201, json=ping_user("jsmith"))
    found = await listed(ping, "/Users", filter='userName eq "jsmith"')
    assert [u["id"] for u in found["Resources"]] == [existing["id"]]
    # Provisioning a datastore user the app does not have.
    found = await listed(ping, "/Users", filter='userName eq "adoe"')
    assert found["totalResults"] == 0
    adoe = await ok(ping, "POST", "/Users", 201, json=ping_user("adoe", "Doe"))

    # User update: the changed attributes, then "Remove User Action: Disable".
    updated = await ok(
        ping,
        "PATCH",
        f"/Users/{adoe['id']}",
        json=patch_body({"op": "replace", "path": "name.familyName", "value": "Doe-Ray"}),
    )
    assert updated["name"]["familyName"] == "Doe-Ray"
    disabled = await ok(
        ping,
        "PATCH",
        f"/Users/{adoe['id']}",
        json=patch_body({"op": "replace", "path": "active", "value": False}),
    )
    assert disabled["active"] is False
    # Re-enabled when the user is back in the datastore group.
    enabled = await ok(ping, "PUT", f"/Users/{adoe['id']}", json=ping_user("adoe", "Doe-Ray"))
    assert enabled["active"] is True and enabled["id"] == adoe["id"]
    # "Remove User Action: Delete".
    await ok(ping, "DELETE", f"/Users/{existing['id']}", 204)
    await failed(ping, "GET", f"/Users/{existing['id']}", 404)


async def test_ping_group_provisioning(stack: ScimStack) -> None:
    ping = await stack.tenant("ping-groups")
    a = (await ok(ping, "POST", "/Users", 201, json=ping_user("ua")))["id"]
    b = (await ok(ping, "POST", "/Users", 201, json=ping_user("ub")))["id"]
    # Synchronizing existing groups by displayName, then provisioning a new one with members.
    assert (await listed(ping, "/Groups", filter='displayName eq "Finance"'))["totalResults"] == 0
    group = await ok(
        ping,
        "POST",
        "/Groups",
        201,
        json={
            "schemas": [GROUP],
            "displayName": "Finance",
            "externalId": "pf-finance",
            "members": [{"value": a}],
        },
    )
    gid = group["id"]
    assert (await listed(ping, "/Groups", filter='displayName eq "finance"'))["Resources"][0][
        "id"
    ] == gid
    # Membership updates and a rename.
    updated = await ok(
        ping,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body(
            {"op": "add", "path": "members", "value": [{"value": b}]},
            {"op": "remove", "path": f'members[value eq "{a}"]'},
            {"op": "replace", "path": "displayName", "value": "Finance EMEA"},
        ),
    )
    assert member_ids(updated) == {b} and updated["displayName"] == "Finance EMEA"
    # A full replace of the group (PUT) with its membership.
    replaced = await ok(
        ping,
        "PUT",
        f"/Groups/{gid}",
        json={
            "schemas": [GROUP],
            "displayName": "Finance EMEA",
            "externalId": "pf-finance",
            "members": [{"value": a}, {"value": b}],
        },
    )
    assert member_ids(replaced) == {a, b}
    await ok(ping, "DELETE", f"/Groups/{gid}", 204)
    assert (await listed(ping, "/Groups"))["totalResults"] == 0
