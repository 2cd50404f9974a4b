"""On SQLite (``roster dev``) a read never waits for a writer: WAL lets it read the last commit
beside an open write transaction (``db.read_session_factory``, and the hot reads' connection on
the loop's thread, ``loop_reads``), so a request waits on another's
write for no longer than its own statement. Proved without timing: the writer holds its
transaction open until the reads have answered, so a read that queued behind it would never
answer (the wait below would time out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from roster_shared.tenants import ProvisioningMode
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import hot_reads, queries, tenants
from user_store.db import create_engine, migrate, read_session_factory, session_factory
from user_store.loop_reads import LoopReads
from user_store.tables import IdentityLinkRow, UserRow

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/roster.db")
    await migrate(engine)
    yield engine
    await engine.dispose()


async def test_reads_answer_beside_an_open_write_transaction(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session, session.begin():
        tenant = await tenants.create_tenant(session, "acme", ProvisioningMode.SCIM_JIT)
        token = (await tenants.issue_token(session, tenant.id)).token
        user = UserRow(
            id="u-1",
            tenant_id=tenant.id,
            user_name="ada@example.com",
            user_name_key="ada@example.com",
            active=True,
            display_name="Ada",
            origin="jit",
            version=1,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(user)
        await session.flush()
        session.add(
            IdentityLinkRow(
                id="l-1",
                tenant_id=tenant.id,
                user_id="u-1",
                issuer="https://idp.example.com",
                subject="sub-ada",
                created_at=NOW,
            )
        )

    loop = LoopReads.of(engine)
    assert loop is not None

    async def reads() -> list[str | None]:
        async with read_session_factory(engine)() as session:
            _, hot = await hot_reads.token_user(session, "acme", token, "u-1")
            _, on_loop = await hot_reads.token_user(session, "acme", token, "u-1", loop)
            general = await queries.get_user(session, tenant.id, "u-1")
            linked = await hot_reads.linked_account(
                session, "acme", "https://idp.example.com", "sub-ada", [], loop
            )
        assert hot is not None and on_loop is not None
        assert linked is not None and linked.account is not None
        return [
            hot.display_name,
            on_loop.display_name,
            general.display_name,
            linked.account.snapshot.display_name,
        ]

    async with session_factory(engine)() as writer, writer.begin():
        row = await writer.get(UserRow, "u-1")
        assert row is not None
        row.display_name = "Ada Lovelace"
        await writer.flush()  # the write lock is taken (BEGIN IMMEDIATE) and held
        # Every read answers while the writer's transaction is still open, with the last commit.
        assert await asyncio.wait_for(reads(), 20) == ["Ada"] * 4
    # Committed: the very next reads see it.
    assert await reads() == ["Ada Lovelace"] * 4
    loop.close()
