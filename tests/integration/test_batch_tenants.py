"""The ingest consumer's batch-wide statement reads its tenants too (``tenants_json``): on the real
PostgreSQL each tenant comes back exactly as ``get_tenant`` reads it, whatever the session's
time zone, and an id no tenant has (or a slug, which is not an id) comes back as None."""

from __future__ import annotations

from datetime import UTC, datetime

from roster_shared.tenants import ProvisioningMode, TenantPolicy
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import tenants
from user_store.db import session_factory

# As the consumer's batch statement reads them: the ids bound at execution.
_TENANTS = select(tenants.tenants_json(bindparam("ids", expanding=True)))


async def test_the_batch_statement_reads_each_tenant_as_get_tenant_does(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        acme = await tenants.create_tenant(
            session,
            "acme",
            ProvisioningMode.SCIM_JIT,
            display_name="Acme Ltd — ünïcode",
            policy=TenantPolicy(allow_email_linking=True),
        )
        await tenants.update_tenant(session, acme.id, settings={"sso": {"nested": [1, "two"]}})
        globex = await tenants.create_tenant(session, "globex", ProvisioningMode.JIT)
    async with sessions() as session, session.begin():
        # A microsecond the float epoch would round, far from UTC's offset.
        stamp = datetime(2026, 12, 5, 23, 59, 59, 987654, tzinfo=UTC)
        await session.execute(
            text("UPDATE tenants SET updated_at = :at WHERE id = :id"),
            {"at": stamp, "id": globex.id},
        )
    async with sessions() as session, session.begin():
        await session.execute(text("SET LOCAL TimeZone = 'Pacific/Chatham'"))
        ids = [acme.id, globex.id, "no-such-tenant", "globex"]
        found = (await session.execute(_TENANTS, {"ids": ids})).scalar_one()
        read = tenants.tenants_of_json(ids, found)
        expected = {ref: await tenants.get_tenant(session, ref) for ref in ids[:2]}
    assert read == {**expected, "no-such-tenant": None, "globex": None}
    read_globex, read_acme = read[globex.id], read[acme.id]
    assert read_globex is not None and read_globex.updated_at == stamp
    assert read_acme is not None and read_acme.policy.allow_email_linking
    assert read_acme.settings["sso"] == {"nested": [1, "two"]}
    for ref in ids[:2]:  # the same contract JSON, not only equal instants
        assert read[ref].model_dump_json() == expected[ref].model_dump_json()  # type: ignore[union-attr]


async def test_no_tenant_found_is_none_for_every_id(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session:
        found = (await session.execute(_TENANTS, {"ids": ["a", "b"]})).scalar_one()
    assert found is None
    assert tenants.tenants_of_json(["a", "b"], found) == {"a": None, "b": None}
