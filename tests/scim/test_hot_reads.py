"""The hottest reads (GET by id, an IdP's ``userName eq`` lookup) answer exactly what the general
read path answers: on PostgreSQL they are one prepared statement each (user_store.hot_reads), on
SQLite the general path itself, and both pairings run here.

The general path is reached through the same endpoint by a request the hot path does not take: a
filter on ``id`` for the GET, ``count=1`` for the lookup (a first page without room to spare).
"""

from __future__ import annotations

from typing import Any

import pytest
from roster_cli.inprocess import InProcessUserStore
from roster_shared.service import USER_STORE
from scim_api.reader import ReaderClient

from tests.integration.harness import login
from tests.scim.stack import READER, ScimStack, Tenant

READER_TOO = True
"""Also on Kafka + PostgreSQL with the scim-api reading as the reader role (conftest)."""
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


async def _page(acme: Tenant, **params: str) -> dict[str, Any]:
    status, body, _ = await acme.request("GET", "/Users", params=params)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def test_get_and_lookup_answer_what_the_general_path_answers(
    stack: ScimStack, acme: Tenant
) -> None:
    # An account a login made (an identity link), adopted by SCIM with every kind of attribute,
    # in two groups whose names sort differently by case.
    jit = await stack.login(login(acme.info, "00u-ada", "Ada.Lovelace@Example.com"))
    assert jit.ok and jit.user is not None
    status, user, _ = await acme.request(
        "POST",
        "/Users",
        json={
            "schemas": [USER, ENTERPRISE],
            "userName": "ada.lovelace@example.com",
            "externalId": "ext-ada",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "displayName": "Ada L",
            "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
            "title": "Analyst",
            ENTERPRISE: {"employeeNumber": "1815", "department": "Engines"},
        },
    )
    assert status == 201 and user["id"] == jit.user.id, user
    for name in ("beta", "Alpha"):
        status, body, _ = await acme.request(
            "POST",
            "/Groups",
            json={"schemas": [GROUP], "displayName": name, "members": [{"value": user["id"]}]},
        )
        assert status == 201, body

    status, got, headers = await acme.request("GET", f"/Users/{user['id']}")
    assert status == 200, got
    assert [g["display"] for g in got["groups"]] == ["Alpha", "beta"]
    by_id = await _page(acme, filter=f'id eq "{user["id"]}"')
    assert by_id["totalResults"] == 1 and by_id["Resources"] == [got]
    assert headers["ETag"] == got["meta"]["version"]

    lookup = await _page(acme, filter='userName eq "ADA.LOVELACE@example.com"')
    general = await _page(acme, filter='userName eq "ada.lovelace@example.com"', count="1")
    assert lookup["totalResults"] == general["totalResults"] == 1
    assert lookup["Resources"] == general["Resources"] == [got]
    assert lookup["itemsPerPage"] == 1 and lookup["startIndex"] == 1

    # Nobody by that name: an empty page, as the general path gives.
    none = await _page(acme, filter='userName eq "nobody@example.com"')
    assert none["totalResults"] == 0 and none.get("Resources", []) == []

    # A deleted user is gone from both.
    status, _, _ = await acme.request("DELETE", f"/Users/{user['id']}")
    assert status == 204
    status, body, _ = await acme.request("GET", f"/Users/{user['id']}")
    assert status == 404, body
    gone = await _page(acme, filter='userName eq "ada.lovelace@example.com"')
    assert gone["totalResults"] == 0


async def test_a_lookup_is_confined_to_the_tokens_tenant(stack: ScimStack, acme: Tenant) -> None:
    other = await stack.tenant()
    for tenant in (acme, other):
        status, body, _ = await tenant.request(
            "POST", "/Users", json={"schemas": [USER], "userName": "same@example.com"}
        )
        assert status == 201, body
        mine = body["id"]
        page = await _page(tenant, filter='userName eq "same@example.com"')
        assert [u["id"] for u in page["Resources"]] == [mine]


async def test_a_write_is_read_right_after_its_answer_on_another_instance(
    stack: ScimStack, acme: Tenant
) -> None:
    # IdPs PATCH by id straight after a POST, and may land on any instance: the answer comes
    # after the commit, so a read right after it (through the user-store, or from the reader
    # functions on the primary) sees the change.
    async with stack.another_instance() as other:
        there = f"{other}/scim/v2/{acme.info.slug}"
        for n in range(5):
            status, made, _ = await acme.request(
                "POST", "/Users", json={"schemas": [USER], "userName": f"ryw{n}@example.com"}
            )
            assert status == 201, made
            status, got, _ = await acme.request("GET", f"{there}/Users/{made['id']}")
            assert status == 200, got
            assert got["meta"]["version"] == made["meta"]["version"]
            found = await _page(acme, filter=f'userName eq "RYW{n}@example.com"')
            assert [u["id"] for u in found["Resources"]] == [made["id"]]
            status, patched, _ = await acme.request(
                "PATCH",
                f"{there}/Users/{made['id']}",
                json={
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "displayName", "value": f"R {n}"}],
                },
            )
            assert status == 200, patched
            status, again, _ = await acme.request("GET", f"/Users/{made['id']}")
            assert status == 200, again
            assert again["displayName"] == f"R {n}"
            assert again["meta"]["version"] == patched["meta"]["version"] != made["meta"]["version"]


async def test_with_a_reader_url_the_hot_reads_and_the_token_check_skip_the_user_store(
    stack: ScimStack, acme: Tenant, request: pytest.FixtureRequest
) -> None:
    # What the scim-api asks the user-store over HTTP for a create, a GET by id and a lookup:
    # on the reader pairing none of the token checks or hot reads (scim_api.reader), embedded
    # none at all (in process), otherwise all of them.
    assert stack.scim_api is not None
    client = stack.scim_api[USER_STORE]
    asked: list[str] = []
    through_http = client._call

    async def recorded(method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(path.rsplit("/", 2)[-2] + "/" + path.rsplit("/", 1)[-1])
        return await through_http(method, path, *args, **kwargs)

    client._call = recorded  # type: ignore[method-assign]
    status, made, _ = await acme.request(
        "POST", "/Users", json={"schemas": [USER], "userName": "hop@example.com"}
    )
    assert status == 201, made
    status, got, _ = await acme.request("GET", f"/Users/{made['id']}")
    assert status == 200 and got["id"] == made["id"]
    found = await _page(acme, filter='userName eq "hop@example.com"')
    assert [u["id"] for u in found["Resources"]] == [made["id"]]
    # A page the hot path does not answer still goes to the user-store, on every pairing.
    await _page(acme, filter='userName sw "hop"')
    if request.node.callspec.params["stack"] == READER:
        assert isinstance(client, ReaderClient)
        assert asked == ["token-reads/users"]
    elif request.node.callspec.params["stack"] == "memory-sqlite":
        # Embedded, composed as `roster dev` is: every one of them is a call in the process
        # (roster_cli.inprocess), the general page too.
        assert isinstance(client, InProcessUserStore)
        assert asked == []
    else:
        assert not isinstance(client, ReaderClient)
        assert asked == [
            "tokens/verify",
            "token-reads/user",
            "token-reads/users",
            "token-reads/users",
        ]
