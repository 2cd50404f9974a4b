"""OneLogin's "SCIM Provisioner with SAML (SCIM v2 Enterprise)" connector, request by request.

Sources: OneLogin Developers, "SCIM" (https://developers.onelogin.com/scim) and the connector's
"Create your SCIM app" pages: the SCIM JSON template maps ``userName``, ``name``, ``emails``,
``title`` and the enterprise extension's ``department``; OneLogin looks the user up by
``userName eq`` before creating, updates with a full PUT, deprovisions by PUT with
``active: false`` or by DELETE, and provisions groups (rules / roles) with
``members`` add and remove operations carrying value arrays.
"""

from __future__ import annotations

from tests.interop.idp import ENTERPRISE, GROUP, USER, failed, listed, member_ids, ok, patch_body
from tests.scim.stack import ScimStack


def onelogin_user(user_name: str, given: str, family: str, **extra: object) -> dict[str, object]:
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": user_name,
        "name": {"familyName": family, "givenName": given},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "title": "Engineer",
        ENTERPRISE: {"department": "R&D"},
        **extra,
    }


async def test_onelogin_user_and_role_sync(stack: ScimStack) -> None:
    onelogin = await stack.tenant("onelogin")
    # Test API connection: a filtered GET.
    await listed(onelogin, "/Users", filter='userName eq "onelogin-test@example.com"')

    found = await listed(onelogin, "/Users", filter='userName eq "jane.doe@example.com"')
    assert found["totalResults"] == 0
    jane = await ok(
        onelogin, "POST", "/Users", 201, json=onelogin_user("jane.doe@example.com", "Jane", "Doe")
    )
    uid = jane["id"]
    assert jane[ENTERPRISE] == {"department": "R&D"} and jane["title"] == "Engineer"

    # Attribute change in OneLogin: full PUT with the template.
    moved = await ok(
        onelogin,
        "PUT",
        f"/Users/{uid}",
        json=onelogin_user(
            "jane.doe@example.com", "Jane", "Smith", **{ENTERPRISE: {"department": "Sales"}}
        ),
    )
    assert moved["name"]["familyName"] == "Smith" and moved[ENTERPRISE] == {"department": "Sales"}

    # Role -> group: created with its first member, then members added and removed.
    john = await ok(
        onelogin, "POST", "/Users", 201, json=onelogin_user("john.roe@example.com", "John", "Roe")
    )
    group = await ok(
        onelogin,
        "POST",
        "/Groups",
        201,
        json={"schemas": [GROUP], "displayName": "Sales Role", "members": [{"value": uid}]},
    )
    gid = group["id"]
    assert member_ids(group) == {uid}
    added = await ok(
        onelogin,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "add", "path": "members", "value": [{"value": john["id"]}]}),
    )
    assert member_ids(added) == {uid, john["id"]}
    removed = await ok(
        onelogin,
        "PATCH",
        f"/Groups/{gid}",
        json=patch_body({"op": "remove", "path": "members", "value": [{"value": uid}]}),
    )
    assert member_ids(removed) == {john["id"]}

    # Deprovision: suspend with PUT active false, then delete.
    off = await ok(
        onelogin,
        "PUT",
        f"/Users/{uid}",
        json=onelogin_user("jane.doe@example.com", "Jane", "Smith", active=False),
    )
    assert off["active"] is False
    await ok(onelogin, "DELETE", f"/Users/{uid}", 204)
    await failed(onelogin, "GET", f"/Users/{uid}", 404)
    await ok(onelogin, "DELETE", f"/Users/{john['id']}", 204)
    group = await ok(onelogin, "GET", f"/Groups/{gid}")
    assert member_ids(group) == set()  # a deleted user leaves its groups
    # A repeated DELETE is a 404 (the user is gone).
    await failed(onelogin, "DELETE", f"/Users/{uid}", 404)
