"""Discovery tells the truth (RFC 7643 §5-7, RFC 7644 §4): every feature /ServiceProviderConfig
advertises works within the limits it states, every resource type /ResourceTypes lists is served
with schemas /Schemas holds, and every writable attribute /Schemas advertises survives a round
trip. Read from the running service and exercised against it, on both pairings, so a feature
added to discovery without its behaviour (or removed from the behaviour) fails here.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.scim.stack import Tenant
from tests.scim.test_protocol import ENTERPRISE, GROUP, USER, assert_error, create_user, patch

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


async def _get(tenant: Tenant, path: str, **params: str) -> Any:
    status, body, _ = await tenant.request("GET", path, params=params)
    assert status == 200, (path, body)
    return body


async def test_every_advertised_feature_works_within_its_stated_limits(acme: Tenant) -> None:
    config = await _get(acme, "/ServiceProviderConfig")
    for n in range(3):
        await create_user(acme, f"spc{n}@example.com", title="t")
    user = (await _get(acme, "/Users", filter='userName eq "spc0@example.com"'))["Resources"][0]

    assert config["patch"]["supported"] is True
    status, body = await patch(
        acme, f"/Users/{user['id']}", {"op": "replace", "path": "title", "value": "patched"}
    )
    assert status == 200 and body["title"] == "patched"

    assert config["filter"]["supported"] is True
    limit = config["filter"]["maxResults"]
    page = await _get(acme, "/Users", filter="title pr", count=str(limit + 1))
    assert page["totalResults"] == 3 and page["itemsPerPage"] <= limit

    assert config["sort"]["supported"] is True
    sorted_ = await _get(acme, "/Users", sortBy="userName", sortOrder="descending")
    names = [r["userName"] for r in sorted_["Resources"]]
    assert names == sorted(names, reverse=True)

    assert config["etag"]["supported"] is True
    status, _, headers = await acme.request("GET", f"/Users/{user['id']}")
    status, _, _ = await acme.request(
        "GET", f"/Users/{user['id']}", headers={"If-None-Match": headers["ETag"]}
    )
    assert status == 304
    status, body, _ = await acme.request(
        "PUT",
        f"/Users/{user['id']}",
        json={"userName": "spc0@example.com"},
        headers={"If-Match": 'W/"999"'},
    )
    assert_error(status, body, 412)

    pagination = config["pagination"]
    assert pagination["index"] is True and pagination["cursor"] is True
    first = await _get(acme, "/Users", count="2", cursor="")
    assert len(first["Resources"]) == 2 and first["nextCursor"]
    rest = await _get(acme, "/Users", count="2", cursor=first["nextCursor"])
    assert len(rest["Resources"]) == 1
    second = await _get(acme, "/Users", startIndex="2", count="1")
    assert second["startIndex"] == 2 and len(second["Resources"]) == 1
    assert pagination["defaultPageSize"] >= 3
    assert len((await _get(acme, "/Users"))["Resources"]) == 3

    bulk = config["bulk"]
    assert bulk["supported"] is True
    status, body, _ = await acme.request(
        "POST",
        "/Bulk",
        json={
            "schemas": [BULK],
            "Operations": [
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "b",
                    "data": {"userName": "b@example.com"},
                }
            ],
        },
    )
    assert status == 200 and body["Operations"][0]["status"] == "201", body
    too_many = [
        {"method": "DELETE", "path": f"/Users/{user['id']}"}
        for _ in range(bulk["maxOperations"] + 1)
    ]
    status, body, _ = await acme.request(
        "POST", "/Bulk", json={"schemas": [BULK], "Operations": too_many}
    )
    assert_error(status, body, 413, "tooMany")  # RFC 7644 §3.7.4

    # Not advertised, and indeed not done: a password is taken and never kept or shown.
    assert config["changePassword"]["supported"] is False
    status, body = await patch(
        acme, f"/Users/{user['id']}", {"op": "replace", "path": "password", "value": "s3cret!"}
    )
    assert status == 200 and "password" not in body

    (scheme,) = config["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken"
    status, _, _ = await acme.request("GET", "/Users", headers={"Authorization": "Bearer no"})
    assert status == 401


async def test_every_listed_resource_type_is_served_with_known_schemas(acme: Tenant) -> None:
    types = (await _get(acme, "/ResourceTypes"))["Resources"]
    schemas = {s["id"] for s in (await _get(acme, "/Schemas"))["Resources"]}
    assert {t["id"] for t in types} == {"User", "Group"}
    for resource_type in types:
        assert resource_type["schema"] in schemas
        for extension in resource_type.get("schemaExtensions", []):
            assert extension["schema"] in schemas
        listed = await _get(acme, resource_type["endpoint"])
        assert isinstance(listed["totalResults"], int)
        assert (await _get(acme, f"/ResourceTypes/{resource_type['id']}")) == resource_type
    for urn in schemas:
        assert (await _get(acme, f"/Schemas/{urn}"))["id"] == urn


def _sample(attribute: dict[str, Any], path: str) -> Any:
    """A value of the attribute's type that Roster should hand back unchanged."""
    if attribute["type"] == "complex":
        element = {
            sub["name"]: _sample(sub, f"{path}.{sub['name']}")
            for sub in attribute["subAttributes"]
            if sub["mutability"] in ("readWrite", "immutable", "writeOnly")
        }
        return [element] if attribute.get("multiValued") else element
    value: Any
    match attribute["type"]:
        case "boolean":
            value = True
        case "integer":
            value = 7
        case "decimal":
            value = 7.5
        case "dateTime":
            value = "2015-10-10T14:38:21Z"
        case "binary":
            value = base64.b64encode(b"roster").decode()
        case "reference":
            value = f"https://example.com/{path}"
        case _:
            value = f"{path.replace('.', '-')}@example.com" if "email" in path else f"v-{path}"
    if attribute.get("canonicalValues"):
        value = attribute["canonicalValues"][0]
    return [value] if attribute.get("multiValued") else value


async def test_every_writable_attribute_advertised_round_trips(acme: Tenant) -> None:
    schemas = {s["id"]: s for s in (await _get(acme, "/Schemas"))["Resources"]}
    sent: dict[str, Any] = {"schemas": [USER, ENTERPRISE]}
    for urn, holder in ((USER, sent), (ENTERPRISE, sent.setdefault(ENTERPRISE, {}))):
        for attribute in schemas[urn]["attributes"]:
            if attribute["mutability"] in ("readWrite", "immutable", "writeOnly"):
                holder[attribute["name"]] = _sample(attribute, attribute["name"])
    status, created, _ = await acme.request("POST", "/Users", json=sent)
    assert status == 201, created
    got = await _get(acme, f"/Users/{created['id']}")
    for urn, holder, back in ((USER, sent, got), (ENTERPRISE, sent[ENTERPRISE], got[ENTERPRISE])):
        for attribute in schemas[urn]["attributes"]:
            name = attribute["name"]
            if name not in holder:
                continue
            if attribute["returned"] == "never":
                assert name not in back, name  # password: taken, never shown
            else:
                assert back.get(name) == holder[name], (name, back.get(name), holder[name])

    member = {"value": created["id"], "type": "User"}
    status, group, _ = await acme.request(
        "POST",
        "/Groups",
        json={"schemas": [GROUP], "displayName": "All", "members": [member], "externalId": "g-1"},
    )
    assert status == 201, group
    got = await _get(acme, f"/Groups/{group['id']}")
    assert got["displayName"] == "All" and got["externalId"] == "g-1"
    assert [{k: m[k] for k in ("value", "type")} for m in got["members"]] == [member]
