"""The reader role and the token-checked functions (migration 0009, scim_api.reader) on the real
PostgreSQL: the role reads no table, and the functions give a live token of the tenant what the
user-store's own hot reads give it, and anything else nothing.

Each test gets a fresh database and a role of its own (``tests.scim.stack.reader_role``).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import pytest
from roster_shared.events.envelope import new_id, utcnow
from roster_shared.filters import Compare, ListQuery
from roster_shared.tenants import ProvisioningMode
from roster_shared.userstore_client import UserStoreClientError
from scim_api.reader import ReaderClient, reader_dsn
from user_store import hot_reads, reader_role, tenants
from user_store.db import create_engine, read_engine, session_factory
from user_store.tables import UserRow

from tests.scim.stack import reader_role as reader_role_url

pytestmark = pytest.mark.integration
INSUFFICIENT_PRIVILEGE = "42501"
NOWHERE = "http://127.0.0.1:9"  # the HTTP fall-back: no test here may reach it


@dataclass
class World:
    admin_url: str
    reader_url: str
    client: ReaderClient
    tokens: dict[str, str]
    token_ids: dict[str, str]
    users: dict[str, str]


async def _user(session: object, tenant_id: str, name: str) -> str:
    now = utcnow()
    row = UserRow(
        id=new_id(),
        tenant_id=tenant_id,
        user_name=name,
        user_name_key=name.casefold(),
        origin="scim",
        scim_managed=True,
        emails=[{"value": name, "primary": True}],
        created_at=now,
        updated_at=now,
    )
    session.add(row)  # type: ignore[attr-defined]
    return row.id


@pytest.fixture
async def world(fresh_database_url: str) -> AsyncIterator[World]:
    async with reader_role_url(fresh_database_url) as reader_url:
        engine = create_engine(fresh_database_url)
        tokens, token_ids, users = {}, {}, {}
        async with session_factory(engine)() as session, session.begin():
            for slug in ("acme", "globex"):
                info = await tenants.create_tenant(session, slug, ProvisioningMode.SCIM_JIT)
                issued = await tenants.issue_token(session, slug)
                tokens[slug], token_ids[slug] = issued.token, issued.id
                users[slug] = await _user(session, info.id, f"ada@{slug}.example")
        await engine.dispose()
        client = ReaderClient(NOWHERE, reader_url=reader_url, pool_size=2)
        await client.start()
        try:
            yield World(fresh_database_url, reader_url, client, tokens, token_ids, users)
        finally:
            await client.close()


async def _revoke(world: World, slug: str) -> None:
    """Revoke the tenant's token as an admin would, through the user-store's own function."""
    engine = create_engine(world.admin_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            await tenants.revoke_token(session, slug, world.token_ids[slug])
    finally:
        await engine.dispose()


def _lookup(name: str) -> ListQuery:
    return ListQuery(filter=Compare(attr="userName", op="eq", value=name))


async def test_the_reader_role_reads_no_table_and_writes_none(world: World) -> None:
    reader = await asyncpg.connect(world.reader_url)
    try:
        for statement in (
            "SELECT * FROM users",
            "SELECT secret_sha256 FROM scim_tokens",
            "SELECT * FROM tenants",
            "SELECT * FROM identity_links",
            "SELECT * FROM outbox",
            "UPDATE scim_tokens SET revoked_at = NULL",
            "INSERT INTO users (id) VALUES ('x')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await reader.execute(statement)
            # Refused for want of a privilege: not a missing table, not a syntax error.
            assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE, statement
        # And what it may do, it does: the function answers for a live token.
        token_id, digest = tenants.presented_token(world.tokens["acme"])
        row = await reader.fetchrow(
            "SELECT * FROM roster_token_tenant($1, $2, $3)", "acme", token_id, digest
        )
        assert row is not None and row["t_slug"] == "acme"
        # It cannot redefine a function in front of ours, either.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await reader.execute(
                "CREATE FUNCTION roster_token_tenant(text, text, text) RETURNS int "
                "LANGUAGE sql AS 'SELECT 1'"
            )
    finally:
        await reader.close()
    admin = await asyncpg.connect(reader_dsn(world.admin_url))
    try:
        role = world.reader_url.split("//")[1].split(":")[0]
        assert await reader_role.reader_only_problems(admin, role, "public") == []
    finally:
        await admin.close()


async def test_a_role_not_granted_the_functions_cannot_call_them(world: World) -> None:
    # EXECUTE is revoked from PUBLIC: any other login role of the cluster is refused.
    admin = await asyncpg.connect(reader_dsn(world.admin_url))
    role, password = f"other_{uuid.uuid4().hex[:12]}", secrets.token_urlsafe(16)
    await admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
    try:
        url = world.reader_url.replace(
            world.reader_url.split("//")[1].split("@")[0], f"{role}:{password}"
        )
        other = await asyncpg.connect(url)
        try:
            token_id, digest = tenants.presented_token(world.tokens["acme"])
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
                await other.fetchrow(
                    "SELECT * FROM roster_token_tenant($1, $2, $3)", "acme", token_id, digest
                )
            assert refused.value.sqlstate == INSUFFICIENT_PRIVILEGE
            assert "roster_token_tenant" in str(refused.value)
        finally:
            await other.close()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def test_a_role_that_can_read_a_table_is_not_made_a_reader(world: World) -> None:
    admin = await asyncpg.connect(reader_dsn(world.admin_url))
    role = f"wide_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT SELECT ON scim_tokens TO "{role}"')
        with pytest.raises(reader_role.ReaderRoleError) as refused:
            await reader_role.apply(admin, role)
        assert "SELECT on scim_tokens" in str(refused.value)
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_a_live_token_reads_what_the_user_stores_hot_reads_read(world: World) -> None:
    engine = create_engine(world.admin_url)
    try:
        async with read_engine(engine).connect() as connection:
            for slug in ("acme", "globex"):
                token, user_id = world.tokens[slug], world.users[slug]
                tenant = await hot_reads.verified_tenant(connection, slug, token)
                assert tenant is not None
                assert await world.client.verify_token(slug, token) == tenant
                # By id, and by the tenant's id instead of its slug.
                expected = await hot_reads.token_user(connection, slug, token, user_id)
                read = await world.client.token_user(slug, token, user_id)
                assert read is not None and (read.tenant, read.user) == expected
                again = await world.client.token_user(tenant.id, token, user_id)
                assert again == read
                # userName eq, compared by its key as the user-store compares it.
                query = _lookup(f"ADA@{slug.upper()}.example")
                _, users = await hot_reads.token_user_name(connection, slug, token, query)
                page = await world.client.token_users(slug, token, query)
                assert page is not None and list(page.page.items) == users
                assert page.page.total == 1 and users[0].id == user_id
                empty = await world.client.token_users(slug, token, _lookup("nobody@example"))
                assert empty is not None and empty.page.total == 0 and empty.page.items == ()
    finally:
        await engine.dispose()


_USERS_BLOCKS = """SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid))
  FROM pg_class c WHERE c.oid = 'users'::regclass
     OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'users'::regclass)"""


@pytest.mark.parametrize("analyzed", [True, False], ids=["analyzed-at-two", "never-analyzed"])
async def test_reads_stay_lookups_when_the_table_grows_under_a_cached_plan(
    world: World, analyzed: bool
) -> None:
    """A function's query is planned once per session and, from its sixth call, may run on a
    generic plan kept until the table is next analyzed. Made while the users table was small
    (a fresh install, a tenant's first import), the plans of migration 0009 found the user of a
    GET by scanning the table or walking the whole userName index and filtering on the id, and
    the user of a lookup by walking that index for the key without the tenant (auto_explain
    under ``bench/compare.py``): at 20,000 users a walk of them all per read. A read must stay
    a lookup of its own index entry whatever the statistics said when its plan was made
    (migration 0013): counted here in the blocks of ``users`` and its indexes, after 20,000
    users arrive behind plans cached at two — with statistics of two users, and with none."""
    admin = world.admin_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(admin)
    try:
        # No autovacuum to refresh the statistics (nor so the plans) mid-test.
        await connection.execute("ALTER TABLE users SET (autovacuum_enabled = false)")
        if analyzed:
            await connection.execute("ANALYZE users")
        token_id, secret = tenants.presented_token(world.tokens["acme"])
        user_id = world.users["acme"]

        async def by_id() -> None:
            row = await connection.fetchrow(
                "SELECT * FROM roster_token_user($1, $2, $3, $4)", "acme", token_id, secret, user_id
            )
            assert row is not None and row["u_id"] == user_id

        async def by_name() -> None:
            row = await connection.fetchrow(
                "SELECT * FROM roster_token_user_name($1, $2, $3, $4)",
                "acme",
                token_id,
                secret,
                "ada@acme.example",
            )
            assert row is not None and row["u_id"] == user_id

        for _ in range(10):  # the plans are made and cached now, at two users
            await by_id()
            await by_name()
        await connection.execute(
            """INSERT INTO users (id, tenant_id, user_name, user_name_key, origin, scim_managed,
                                  active, version, emails, extra, created_at, updated_at)
               SELECT 'bulk-' || n, t.id, 'user' || n || '@acme.example',
                      'user' || n || '@acme.example', 'scim', true, true, 1, '[]', '{}',
                      now(), now()
                 FROM generate_series(1, 20000) n, tenants t WHERE t.slug = 'acme'"""
        )
        for read in (by_id, by_name):
            async with connection.transaction():
                # Counts not yet reported (the INSERT's too) stay in it: the reads' add to them.
                before = await connection.fetchval(_USERS_BLOCKS)
                for _ in range(10):
                    await read()
                blocks = await connection.fetchval(_USERS_BLOCKS) - before
            # Each read: an index's root and leaf (a level more at most) and the row's page.
            assert blocks <= 10 * 5, (read.__name__, blocks)
    finally:
        await connection.close()


async def test_a_token_that_is_not_live_for_the_tenant_reads_nothing(world: World) -> None:
    acme, globex = world.tokens["acme"], world.tokens["globex"]
    prefix, _, secret = acme.rpartition("_")
    tampered = f"{prefix}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}"
    # Another tenant's token, a tampered secret, a malformed token, an unknown tenant.
    for ref, token in (
        ("acme", globex),
        ("acme", tampered),
        ("acme", "not-a-token"),
        ("acme", f"rst_{'x' * 16}_{secret}"),  # the right secret under another token id
        ("initech", acme),
    ):
        assert await world.client.verify_token(ref, token) is None, (ref, token)
        assert await world.client.token_user(ref, token, world.users["acme"]) is None
        assert await world.client.token_users(ref, token, _lookup("ada@acme.example")) is None


async def test_a_token_reads_no_user_of_another_tenant(world: World) -> None:
    # Acme's own token, acme's path, globex's user id / userName: no such user in acme (404 and
    # an empty page, as the user-store answers), nothing of globex's is returned.
    token = world.tokens["acme"]
    with pytest.raises(UserStoreClientError) as missing:
        await world.client.token_user("acme", token, world.users["globex"])
    assert missing.value.status == 404
    page = await world.client.token_users("acme", token, _lookup("ada@globex.example"))
    assert page is not None and page.tenant.slug == "acme" and page.page.items == ()
    # Acme's token on globex's path: refused as a token not live for it, before any read.
    assert await world.client.token_user("globex", token, world.users["globex"]) is None


async def test_a_revoked_token_is_refused_on_its_very_next_read(world: World) -> None:
    token = world.tokens["acme"]
    assert await world.client.token_user("acme", token, world.users["acme"]) is not None
    await _revoke(world, "acme")
    # The same pooled connections, no wait: the functions read scim_tokens on every call.
    assert await world.client.verify_token("acme", token) is None
    assert await world.client.token_user("acme", token, world.users["acme"]) is None
    assert await world.client.token_users("acme", token, _lookup("ada@acme.example")) is None
    # Globex's token is untouched.
    assert await world.client.verify_token("globex", world.tokens["globex"]) is not None


async def test_concurrent_token_checks_share_a_read_and_a_revocation_is_seen_by_the_next(
    world: World,
) -> None:
    # Twenty writes of one IdP checking the same token at once: one read of scim_tokens
    # answers them all (roster_shared.joined_reads), each the tenant it would have got alone.
    token, client = world.tokens["acme"], world.client
    expected = await client.verify_token("acme", token)
    assert expected is not None
    reads = client.token_reads.reads
    answers = await asyncio.gather(*(client.verify_token("acme", token) for _ in range(20)))
    assert answers == [expected] * 20
    assert client.token_reads.reads - reads == 1
    # Another tenant's token in the same burst is its own read, refused as before.
    mixed = await asyncio.gather(
        client.verify_token("acme", token), client.verify_token("acme", world.tokens["globex"])
    )
    assert list(mixed) == [expected, None]
    await _revoke(world, "acme")
    # Joined, never cached: the burst after the revocation is refused, every one of it.
    answers = await asyncio.gather(*(client.verify_token("acme", token) for _ in range(20)))
    assert answers == [None] * 20


async def test_a_read_cut_off_by_its_timeout_leaves_the_pool_usable(world: World) -> None:
    # The pool does not reset a connection given back (scim_api.reader): a read abandoned
    # mid-query must still leave its connection fit for the next one. One connection, so the
    # next read is on the very same one.
    client = ReaderClient(NOWHERE, reader_url=world.reader_url, pool_size=1, timeout=0.3)
    await client.start()
    try:
        with pytest.raises(UserStoreClientError) as cut:
            await client._row("SELECT pg_sleep(5)")  # any role may sleep; the function can't
        assert cut.value.status == 503  # the client is told to retry, not a 500
        tenant = await client.verify_token("acme", world.tokens["acme"])
        assert tenant is not None and tenant.slug == "acme"
        assert await client.verify_token("acme", world.tokens["globex"]) is None
    finally:
        await client.close()
