"""The in-process user-store client (``roster dev``) answers every hot call exactly as the HTTP
client does, against the same user-store, on both pairings.

Each call is made through both clients and the two outcomes (the answer, or the exception's
type, status, code and detail) must be equal; each is also held to what it should be, so two
clients that agreed on a wrong answer would fail too. The HTTP client is the production path's:
on Kafka + PostgreSQL this is its contract test as much as the in-process client's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_cli.inprocess import InProcessUserStore
from roster_shared.filters import Compare, ListQuery
from roster_shared.userstore_client import UserStoreClient, UserStoreClientError
from roster_testing.topics import topic_prefix
from user_store import tenants

from tests.integration.harness import login
from tests.scim.stack import PAIRINGS, ScimStack, Tenant, pairing, scim_stack

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture(params=PAIRINGS)
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[ScimStack]:
    bus, database = pairing(request, tmp_path, "inprocess-tests")
    # Over HTTP on both pairings: the clients under test are made here, not by the stack.
    async with scim_stack(
        bus, database, topic_prefix=topic_prefix("ip"), in_process=False
    ) as running:
        yield running


@pytest.fixture
async def clients(stack: ScimStack) -> AsyncIterator[tuple[UserStoreClient, UserStoreClient]]:
    http = UserStoreClient(stack.url, token=stack.internal_token, timeout=10)
    direct = InProcessUserStore(stack.root, stack.url, token=stack.internal_token, timeout=10)
    await http.start()
    await direct.start()
    try:
        yield http, direct
    finally:
        await http.close()
        await direct.close()


def _outcome(result: Any) -> Any:
    if isinstance(result, UserStoreClientError):
        return (type(result), result.status, result.code, result.detail)
    return result


async def same(clients: tuple[UserStoreClient, UserStoreClient], call: str, *args: Any) -> Any:
    """``call(*args)`` through both clients; their outcomes must be equal. The answer, or the
    :class:`UserStoreClientError` both raised."""
    outcomes = []
    for client in clients:
        try:
            outcomes.append(await getattr(client, call)(*args))
        except UserStoreClientError as error:
            outcomes.append(error)
    http, direct = (_outcome(o) for o in outcomes)
    assert direct == http, f"in process: {direct!r}\nover HTTP: {http!r}"
    return outcomes[0]


def _lookup(user_name: str, **extra: Any) -> ListQuery:
    return ListQuery(filter=Compare(attr="userName", op="eq", value=user_name), **extra)


async def _user(tenant: Tenant, user_name: str) -> str:
    status, body, _ = await tenant.request(
        "POST", "/Users", json={"schemas": [USER], "userName": user_name, "displayName": "U"}
    )
    assert status == 201, body
    return str(body["id"])


async def test_token_checked_reads_answer_alike(
    stack: ScimStack, clients: tuple[UserStoreClient, UserStoreClient]
) -> None:
    acme, other = await stack.tenant(), await stack.tenant()
    ada = await _user(acme, "ada@example.com")
    theirs = await _user(other, "bob@example.com")
    slug = acme.info.slug

    # Found: the tenant the token is live for, and the user.
    found = await same(clients, "token_user", slug, acme.token, ada)
    assert found.tenant.id == acme.info.id and found.user.id == ada
    assert found.user.user_name == "ada@example.com"
    by_id = await same(clients, "token_user", acme.info.id, acme.token, ada)
    assert by_id == found

    # Not found: a well-formed id nobody has, and a value that is not an id at all.
    for missing in (str(uuid.uuid4()), "not-an-id"):
        error = await same(clients, "token_user", slug, acme.token, missing)
        assert isinstance(error, UserStoreClientError) and error.status == 404, error

    # Another tenant's user through this tenant's token is not found (tenant isolation)...
    error = await same(clients, "token_user", slug, acme.token, theirs)
    assert isinstance(error, UserStoreClientError) and error.status == 404, error
    # ...and another tenant's token is not live here: refused before anything is read.
    for user_id in (ada, theirs):
        assert await same(clients, "token_user", slug, other.token, user_id) is None

    # Wrong, malformed and empty tokens are refused before the read: never a 404 that would
    # say whether the user exists.
    for token in (acme.token + "x", "rst_nope", "", "\x00"):
        assert await same(clients, "token_user", slug, token, ada) is None
        assert await same(clients, "token_user", slug, token, "not-an-id") is None
        assert await same(clients, "verify_token", slug, token) is None

    # No such tenant, and values that cannot be a tenant: refused alike.
    for ref in ("nosuchtenant", str(uuid.uuid4()), "Not A Slug", "..", ""):
        assert await same(clients, "verify_token", ref, acme.token) is None
        answer = await same(clients, "token_user", ref, acme.token, ada)
        assert answer is None or (
            isinstance(answer, UserStoreClientError) and answer.status == 404
        ), answer

    verified = await same(clients, "verify_token", slug, acme.token)
    assert verified == found.tenant


async def test_user_name_lookups_answer_alike(
    stack: ScimStack, clients: tuple[UserStoreClient, UserStoreClient]
) -> None:
    acme, other = await stack.tenant(), await stack.tenant()
    ada = await _user(acme, "ada@example.com")
    await _user(other, "same@example.com")
    slug = acme.info.slug

    hit = await same(clients, "token_users", slug, acme.token, _lookup("ADA@example.com"))
    assert hit.tenant.id == acme.info.id
    assert hit.page.total == 1 and [u.id for u in hit.page.items] == [ada]
    # The general path (a first page without room to spare) gives the same page.
    general = await same(
        clients, "token_users", slug, acme.token, _lookup("ada@example.com", count=1)
    )
    assert general.page.items == hit.page.items

    miss = await same(clients, "token_users", slug, acme.token, _lookup("no@example.com"))
    assert miss.page.total == 0 and miss.page.items == ()
    # Another tenant's user of that name is not found here.
    there = await same(clients, "token_users", slug, acme.token, _lookup("same@example.com"))
    assert there.page.total == 0
    # A token not live for the tenant: refused, whether or not the name exists.
    for token in (other.token, acme.token + "x"):
        refused = await same(clients, "token_users", slug, token, _lookup("ada@example.com"))
        assert refused is None
    # A filter the user-store refuses: the same typed 400.
    bad = ListQuery(filter=Compare(attr="nosuchattribute", op="eq", value="x"))
    error = await same(clients, "token_users", slug, acme.token, bad)
    assert isinstance(error, UserStoreClientError), error
    assert (error.status, error.code) == (400, "invalid_filter"), error


async def test_a_revoked_token_is_refused_on_the_next_call(
    stack: ScimStack, clients: tuple[UserStoreClient, UserStoreClient]
) -> None:
    acme = await stack.tenant()
    ada = await _user(acme, "ada@example.com")
    async with stack.sessions() as session, session.begin():
        issued = await tenants.issue_token(session, acme.info.id, label="to revoke")
    slug = acme.info.slug
    found = await same(clients, "token_user", slug, issued.token, ada)
    assert found.user.id == ada
    assert await same(clients, "verify_token", slug, issued.token) == found.tenant

    async with stack.sessions() as session, session.begin():
        await tenants.revoke_token(session, acme.info.id, issued.id)

    assert await same(clients, "token_user", slug, issued.token, ada) is None
    assert await same(clients, "verify_token", slug, issued.token) is None
    lookup = _lookup("ada@example.com")
    assert await same(clients, "token_users", slug, issued.token, lookup) is None
    # The tenant's other token still reads.
    assert (await same(clients, "token_user", slug, acme.token, ada)).user.id == ada


async def test_returning_logins_answer_alike(
    stack: ScimStack, clients: tuple[UserStoreClient, UserStoreClient]
) -> None:
    acme = await stack.tenant()
    first = login(acme.info, "00u-ada", "ada@example.com", display_name="Ada")
    reply = await stack.login(first)
    assert reply.ok and reply.user is not None

    # Unchanged: the account, as the write path's reply had it.
    same_login = first.data
    user = await same(clients, "returning_login", acme.info.id, same_login)
    assert user is not None and user.id == reply.user.id and user.user_name == "ada@example.com"
    # Changed attributes, or a subject never seen: take the write path.
    changed = login(acme.info, "00u-ada", "ada@example.com", display_name="Ada L").data
    assert await same(clients, "returning_login", acme.info.id, changed) is None
    new = login(acme.info, "00u-new", "new@example.com").data
    assert await same(clients, "returning_login", acme.info.id, new) is None
    # Another tenant's id: the same link is no account there.
    other = await stack.tenant()
    assert await same(clients, "returning_login", other.info.id, same_login) is None
    # No such tenant: the same 404.
    for ref in (str(uuid.uuid4()), "Not A Slug"):
        error = await same(clients, "returning_login", ref, same_login)
        assert isinstance(error, UserStoreClientError) and error.status == 404, error


async def test_concurrent_tenant_reads_are_joined_and_a_change_is_read_by_the_next(
    stack: ScimStack, clients: tuple[UserStoreClient, UserStoreClient]
) -> None:
    # Every login step asks for its tenant: sixteen at once are one request to the user-store
    # (roster_shared.joined_reads), each answered as it would have been alone.
    http, _ = clients
    acme = await stack.tenant()
    expected = await http.tenant(acme.info.slug)
    reads = http.tenant_reads.reads
    answers = await asyncio.gather(*(http.tenant(acme.info.slug) for _ in range(16)))
    assert answers == [expected] * 16
    assert http.tenant_reads.reads - reads == 1
    # Joined, never cached: a change committed before the next burst is what it reads.
    async with stack.sessions() as session, session.begin():
        await tenants.update_tenant(session, acme.info.id, settings={"sso": {"marker": "new"}})
    answers = await asyncio.gather(*(http.tenant(acme.info.slug) for _ in range(16)))
    assert {answer.settings.get("sso", {}).get("marker") for answer in answers} == {"new"}
    # An unknown tenant is refused to every joined caller, as it would be alone.
    missing = await asyncio.gather(
        *(http.tenant("no-such-tenant") for _ in range(4)), return_exceptions=True
    )
    assert all(isinstance(m, UserStoreClientError) and m.status == 404 for m in missing), missing
