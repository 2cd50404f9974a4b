"""What RFC 7643/7644 say plainly and real clients rely on (issue 11), end to end on both
pairings (in-process bus + SQLite, Kafka + PostgreSQL): value filters inside ``attributes``,
filters on every multi-valued attribute, ``meta.version`` and date-times compared as moments,
nested groups, ``POST /.search`` across resource types, and discovery documents that carry the
RFC's own words and advertise only what works.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.scim.stack import Tenant
from tests.scim.test_protocol import ENTERPRISE, GROUP, LIST, USER, assert_error, create_user, patch

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


async def _ids(tenant: Tenant, path: str, filter_: str) -> set[str]:
    status, body, _ = await tenant.request(
        "GET", path, params={"filter": filter_, "attributes": "id", "count": "100"}
    )
    assert status == 200, (filter_, body)
    return {r["id"] for r in body["Resources"]}


async def _group(tenant: Tenant, name: str, *members: tuple[str, str]) -> dict[str, Any]:
    status, body, _ = await tenant.request(
        "POST",
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": value, "type": kind} for value, kind in members],
        },
    )
    assert status == 201, body
    return dict(body)


@pytest.fixture
async def ada(acme: Tenant) -> dict[str, Any]:
    return await create_user(
        acme,
        "ada@example.com",
        externalId="ext-ada",
        displayName="Ada Lovelace",
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[
            {"value": "ada@example.com", "type": "work", "primary": True},
            {"value": "ada@home.example.com", "type": "home"},
        ],
        phoneNumbers=[{"value": "+44 20 7946 0000", "type": "work"}],
        addresses=[{"locality": "London", "country": "GB", "type": "work"}],
        roles=[{"value": "analyst"}],
    )


# -- attributes with a value filter (RFC 7644 §3.10 attribute paths; Microsoft's clients) -------


async def test_attributes_with_a_value_filter_return_only_the_matching_values(
    acme: Tenant, ada: dict[str, Any]
) -> None:
    status, body, _ = await acme.request(
        "GET", f"/Users/{ada['id']}", params={"attributes": 'emails[type eq "work"]'}
    )
    assert status == 200, body
    assert body["emails"] == [{"value": "ada@example.com", "type": "work", "primary": True}]
    assert set(body) == {"schemas", "id", "emails"}

    status, body, _ = await acme.request(
        "GET",
        "/Users",
        params={"attributes": 'emails[type eq "work"].value', "filter": f'id eq "{ada["id"]}"'},
    )
    assert [r["emails"] for r in body["Resources"]] == [[{"value": "ada@example.com"}]]

    # Excluded: the matching values go, the others stay.
    status, body, _ = await acme.request(
        "GET", f"/Users/{ada['id']}", params={"excludedAttributes": 'emails[type eq "work"]'}
    )
    assert [e["value"] for e in body["emails"]] == ["ada@home.example.com"]


# -- filters (RFC 7644 §3.4.2.2) ---------------------------------------------------------------


async def test_filters_reach_every_multi_valued_attribute(
    acme: Tenant, ada: dict[str, Any]
) -> None:
    other = await create_user(acme, "bob@example.com", phoneNumbers=[{"value": "+1 555 0100"}])
    for filter_, expected in [
        ('phoneNumbers.value eq "+44 20 7946 0000"', {ada["id"]}),
        ('phoneNumbers eq "+1 555 0100"', {other["id"]}),
        ('phoneNumbers[type eq "work" and value sw "+44"]', {ada["id"]}),
        ("phoneNumbers pr", {ada["id"], other["id"]}),
        ('addresses.locality eq "london"', {ada["id"]}),
        ('addresses[country eq "GB" and type eq "work"]', {ada["id"]}),
        ('roles.value eq "analyst"', {ada["id"]}),
        ("addresses pr", {ada["id"]}),
        ('not (addresses.locality eq "London")', {other["id"]}),
    ]:
        assert await _ids(acme, "/Users", filter_) == expected, filter_


async def test_attribute_names_are_case_insensitive_in_filters_paths_and_sorting(
    acme: Tenant, ada: dict[str, Any]
) -> None:
    for filter_ in [
        'name.FamilyName eq "Lovelace"',
        'DisplayName eq "Ada Lovelace"',
        'emails.Value eq "ADA@example.com"',
        'EMAILS[TYPE eq "work"].VALUE eq "ada@example.com"',
        'PhoneNumbers.VALUE eq "+44 20 7946 0000"',
        'Addresses[Locality eq "London"]',
        f'{USER.upper()}:userName eq "ada@example.com"',
        'Meta.Version eq "W/\\"1\\""',
    ]:
        assert await _ids(acme, "/Users", filter_) == {ada["id"]}, filter_
    status, body = await patch(
        acme, f"/Users/{ada['id']}", {"op": "replace", "path": "Name.GivenName", "value": "A."}
    )
    assert status == 200 and body["name"]["givenName"] == "A.", body
    status, body, _ = await acme.request(
        "GET", "/Users", params={"sortBy": "Name.FamilyName", "attributes": "userName"}
    )
    assert status == 200, body


async def test_meta_version_filters_compare_versions(acme: Tenant, ada: dict[str, Any]) -> None:
    await patch(acme, f"/Users/{ada['id']}", {"op": "replace", "path": "title", "value": "x"})
    assert await _ids(acme, "/Users", 'meta.version eq "W/\\"2\\""') == {ada["id"]}
    assert await _ids(acme, "/Users", 'meta.version eq "W/\\"1\\""') == set()
    assert await _ids(acme, "/Users", "meta.version gt 1") == {ada["id"]}
    status, body, _ = await acme.request(
        "GET", "/Users", params={"filter": 'meta.version eq "seven"'}
    )
    assert_error(status, body, 400, "invalidFilter")


async def test_date_times_are_compared_as_moments(acme: Tenant, ada: dict[str, Any]) -> None:
    created = datetime.fromisoformat(ada["meta"]["created"].replace("Z", "+00:00"))
    before = created - timedelta(seconds=2)
    after = created + timedelta(seconds=2)
    # The same moments written with another offset: as text they would compare the wrong way.
    shift = timedelta(hours=2)
    before_local = (before + shift).replace(tzinfo=None).isoformat() + "+02:00"
    after_local = (after + shift).replace(tzinfo=None).isoformat() + "+02:00"
    assert await _ids(acme, "/Users", f'meta.created gt "{before_local}"') == {ada["id"]}
    assert await _ids(acme, "/Users", f'meta.created gt "{after_local}"') == set()
    assert await _ids(acme, "/Users", f'meta.created lt "{after_local}"') == {ada["id"]}
    # Unquoted, as in RFC 7644's own example (meta.lastModified gt 2011-05-13T04:42:34Z).
    assert await _ids(acme, "/Users", "meta.created gt 2015-10-10T14:38:21Z") == {ada["id"]}
    assert await _ids(acme, "/Users", "meta.lastModified lt 2015-10-10T14:38:21Z") == set()
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await _ids(acme, "/Users", f"meta.created ge {future}") == set()
    status, body, _ = await acme.request(
        "GET", "/Users", params={"filter": 'meta.created gt "yesterday"'}
    )
    assert_error(status, body, 400, "invalidFilter")


# -- nested groups (RFC 7643 §4.2) --------------------------------------------------------------


async def test_groups_nest_and_filter_by_member_type_and_display(
    acme: Tenant, ada: dict[str, Any]
) -> None:
    inner = await _group(acme, "Engineering", (ada["id"], "User"))
    outer = await _group(acme, "Everyone", (inner["id"], "Group"))
    assert outer["members"] == [
        {"value": inner["id"], "$ref": f"{acme.base}/Groups/{inner['id']}", "type": "Group"}
    ]
    assert await _ids(acme, "/Groups", 'members[type eq "Group"]') == {outer["id"]}
    assert await _ids(acme, "/Groups", 'members[type eq "User"]') == {inner["id"]}
    assert await _ids(acme, "/Groups", f'members.value eq "{inner["id"]}"') == {outer["id"]}
    assert await _ids(acme, "/Groups", 'members.display eq "engineering"') == {outer["id"]}
    assert await _ids(acme, "/Groups", 'members.display eq "ADA@example.com"') == {inner["id"]}
    # display is returned when asked for by name (returned: request).
    status, body, _ = await acme.request(
        "GET", f"/Groups/{outer['id']}", params={"attributes": "members.display"}
    )
    assert body["members"] == [{"display": "Engineering"}], body

    # A group never contains itself, directly or through another.
    status, body = await patch(
        acme,
        f"/Groups/{inner['id']}",
        {"op": "add", "path": "members", "value": [{"value": outer["id"], "type": "Group"}]},
    )
    assert_error(status, body, 400, "invalidValue")
    assert "contain itself" in body["detail"]
    status, body = await patch(
        acme,
        f"/Groups/{inner['id']}",
        {"op": "add", "path": "members", "value": [{"value": inner["id"]}]},
    )
    assert_error(status, body, 400, "invalidValue")

    # Removal by a filtered path, then deleting a nested group updates its parent.
    status, body = await patch(
        acme,
        f"/Groups/{outer['id']}",
        {"op": "add", "path": "members", "value": [{"value": ada["id"]}]},
    )
    assert status == 200 and {m["type"] for m in body["members"]} == {"User", "Group"}
    version = body["meta"]["version"]
    status, _, _ = await acme.request("DELETE", f"/Groups/{inner['id']}")
    assert status == 204
    status, body, _ = await acme.request("GET", f"/Groups/{outer['id']}")
    assert [m["value"] for m in body["members"]] == [ada["id"]]
    assert body["meta"]["version"] != version
    status, body = await patch(
        acme, f"/Groups/{outer['id']}", {"op": "remove", "path": f'members[value eq "{ada["id"]}"]'}
    )
    assert status == 200 and body["members"] == [], body


# -- POST /.search across resource types (RFC 7644 §3.4.3) --------------------------------------


async def test_root_search_spans_users_and_groups(acme: Tenant, ada: dict[str, Any]) -> None:
    other = await create_user(acme, "bob@example.com")
    group = await _group(acme, "Admins", (ada["id"], "User"))

    async def search(**request: Any) -> dict[str, Any]:
        status, body, _ = await acme.request(
            "POST", "/.search", json={"schemas": [SEARCH], **request}
        )
        assert status == 200, body
        assert body["schemas"] == [LIST]
        return dict(body)

    everything = await search()
    assert everything["totalResults"] == 3
    assert [r["id"] for r in everything["Resources"]] == [ada["id"], other["id"], group["id"]]
    assert [r["schemas"][0] for r in everything["Resources"]] == [USER, USER, GROUP]

    # Paging runs over the whole list.
    page = await search(startIndex=2, count=2)
    assert [r["id"] for r in page["Resources"]] == [other["id"], group["id"]]
    assert page["startIndex"] == 2 and page["totalResults"] == 3

    # A filter on an attribute only one type has searches that type only.
    only_users = await search(filter='userName sw "ada"', attributes=["userName"])
    assert only_users["Resources"] == [
        {"schemas": [USER], "id": ada["id"], "userName": "ada@example.com"}
    ]
    both = await search(filter='displayName sw "ad"', excludedAttributes=["members"])
    assert {r["id"] for r in both["Resources"]} == {ada["id"], group["id"]}
    assert all("members" not in r for r in both["Resources"])

    # Sorted: merged by the attribute, whatever the type.
    ordered = await search(sortBy="displayName", sortOrder="descending", attributes=["id"])
    assert [r["id"] for r in ordered["Resources"]] == [group["id"], ada["id"], other["id"]]
    # An attribute only Users have: the Users alone, sorted and paged by the user-store.
    second = await search(sortBy="userName", startIndex=2, count=1)
    assert [r["id"] for r in second["Resources"]] == [other["id"]]
    assert second["totalResults"] == 2
    # A merged sort reaches the first 1000 results; further is refused with advice.
    status, body, _ = await acme.request(
        "POST",
        "/.search",
        json={"schemas": [SEARCH], "sortBy": "meta.created", "startIndex": 1000, "count": 10},
    )
    assert_error(status, body, 400, "invalidValue")
    assert "/Users/.search" in body["detail"]

    status, body, _ = await acme.request(
        "POST", "/.search", json={"schemas": [SEARCH], "filter": 'nosuch eq "x"'}
    )
    assert_error(status, body, 400, "invalidFilter")
    status, body, _ = await acme.request(
        "POST", "/.search", json={"schemas": [SEARCH], "cursor": ""}
    )
    assert_error(status, body, 400, "invalidValue")


# -- discovery tells the truth ------------------------------------------------------------------


async def test_schemas_carry_rfc_7643_names_and_descriptions(acme: Tenant) -> None:
    status, body, _ = await acme.request("GET", "/Schemas")
    assert status == 200
    by_id = {s["id"]: s for s in body["Resources"]}
    # RFC 7643 §8.7.1 and §8.7.2, word for word.
    assert (by_id[USER]["name"], by_id[USER]["description"]) == ("User", "User Account")
    assert (by_id[GROUP]["name"], by_id[GROUP]["description"]) == ("Group", "Group")
    assert (by_id[ENTERPRISE]["name"], by_id[ENTERPRISE]["description"]) == (
        "EnterpriseUser",
        "Enterprise User",
    )
    user = {a["name"]: a for a in by_id[USER]["attributes"]}
    assert user["userName"]["description"] == (
        "Unique identifier for the User, typically used by the user to directly authenticate "
        "to the service provider. Each User MUST include a non-empty userName value.  This "
        "identifier MUST be unique across the service provider's entire set of Users. REQUIRED."
    )
    assert user["active"]["description"] == (
        "A Boolean value indicating the User's administrative status."
    )
    group = {a["name"]: a for a in by_id[GROUP]["attributes"]}
    assert group["displayName"]["description"] == "A human-readable name for the Group. REQUIRED."
    members = {s["name"]: s for s in group["members"]["subAttributes"]}
    assert members["type"]["canonicalValues"] == ["User", "Group"]
    assert members["display"]["returned"] == "request"
    manager = {a["name"]: a for a in by_id[ENTERPRISE]["attributes"]}["manager"]
    assert manager["description"].startswith("The User's manager. A complex type")
    for schema in by_id.values():
        for attribute in schema["attributes"]:
            assert attribute.get("description"), (schema["id"], attribute["name"])
            for sub in attribute.get("subAttributes", []):
                assert sub.get("description"), (schema["id"], attribute["name"], sub["name"])


# -- identity: one externalId is one person (docs/design.md rules 1 and 4) ----------------------


async def test_two_people_with_one_external_id_are_a_409_naming_it(
    acme: Tenant, ada: dict[str, Any]
) -> None:
    status, body, _ = await acme.request(
        "POST", "/Users", json={"userName": "grace@example.com", "externalId": "ext-ada"}
    )
    assert_error(status, body, 409, "uniqueness")
    assert "externalId" in body["detail"] and ada["id"] in body["detail"]
    grace = await create_user(acme, "grace@example.com", externalId="ext-grace")
    # Nor can an update give a second person the first one's externalId.
    status, body, _ = await acme.request(
        "PUT",
        f"/Users/{grace['id']}",
        json={"userName": "grace@example.com", "externalId": "ext-ada"},
    )
    assert_error(status, body, 409, "uniqueness")
    assert "externalId" in body["detail"]
    status, body = await patch(
        acme, f"/Users/{grace['id']}", {"op": "replace", "path": "externalId", "value": "ext-ada"}
    )
    assert_error(status, body, 409, "uniqueness")
    assert "externalId" in body["detail"]
    # Nothing was half-written: two people, each with their own externalId.
    status, body, _ = await acme.request("GET", "/Users", params={"attributes": "externalId"})
    assert sorted(r["externalId"] for r in body["Resources"]) == ["ext-ada", "ext-grace"]
