"""A large batch's statements are planned with their values on PostgreSQL, every time.

The batch's reads name hundreds of keys in IN lists, one prepared statement per list length.
After five runs of a prepared statement PostgreSQL may keep a generic plan, costed without the
values; for the look-ups that plan believed a tenant holds one account, read the whole tenant
and tested every row against each key in turn (300-440 ms a batch at 20,000 accounts, seen with
auto_explain under ``bench/ingest_throughput.py``). The consumer's transactions force custom
plans from ``consumer.CUSTOM_PLANS_FROM`` events on (``consumer.CUSTOM_PLANS``); a smaller
batch, a lone SCIM request's, is left to PostgreSQL, as planning its every statement cost more
than it risks. PostgreSQL counts which kind each prepared statement got.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from roster_shared.bus import MemoryBus
from roster_shared.bus.base import Message
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.tenants import ProvisioningMode
from roster_shared.topics import Topics
from user_store import tenants
from user_store.consumer import CUSTOM_PLANS_FROM, IngestProcessor
from user_store.db import create_engine, migrate, session_factory
from user_store.outbox import OutboxRelay

pytestmark = pytest.mark.integration


def _create(tenant_id: str, n: int) -> ingest.UserUpserted:
    return ingest.UserUpserted(
        tenant_id=tenant_id,
        source=Source.SCIM,
        data=ingest.UserUpsertedData(
            attributes={"user_name": f"user{n}@example.com", "external_id": f"ext-{n}"}
        ),
    )


def _messages(topics: Topics, events: list[ingest.UserUpserted], first: int) -> list[Message]:
    records = [event_record(topics.ingest, event) for event in events]
    return [
        Message(r.topic, 0, first + i, r.key, r.value, r.headers) for i, r in enumerate(records)
    ]


async def test_a_batchs_reads_never_run_on_a_generic_plan(fresh_database_url: str) -> None:
    # Whether PostgreSQL goes generic depends on its statistics at the time (the bench's run
    # did; a small test table does not): this database prefers generic plans for everything,
    # so only the consumer's own setting can keep its statements on custom plans.
    engine = create_engine(fresh_database_url, pool_size=1)
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            name = (await connection.execute(sa.text("SELECT current_database()"))).scalar_one()
            await connection.execute(
                sa.text(f'ALTER DATABASE "{name}" SET plan_cache_mode = force_generic_plan')
            )
        await engine.dispose()  # new connections take the database's setting
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            tenant = await tenants.create_tenant(session, "plans", ProvisioningMode.SCIM)
        topics = Topics()
        # The relay is only kicked here, never run: nothing is published.
        processor = IngestProcessor(sessions, OutboxRelay(sessions, MemoryBus()), topics=topics)
        # Six batches of each size: the same statements, prepared once, run six times.
        offset = 0
        for size in (CUSTOM_PLANS_FROM, 5):
            for _ in range(6):
                events = [_create(tenant.id, offset + i) for i in range(size)]
                await processor(_messages(topics, events, offset))
                offset += size
        assert processor.applied == offset and processor.safe_passes == 0

        async with engine.connect() as connection:
            setting = (await connection.execute(sa.text("SHOW plan_cache_mode"))).scalar_one()
            assert setting == "force_generic_plan"  # the premise: the server's own choice
            rows = (
                await connection.execute(
                    sa.text(
                        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                        " WHERE statement LIKE '%FROM processed_events%'"
                        " AND statement LIKE '%users.user_name_key IN%'"
                        " AND statement NOT LIKE '%pg_prepared_statements%'"
                    )
                )
            ).all()
        # One look-up statement per batch size: the large batches' planned with their values
        # every time, the small ones' as the database chose.
        assert sorted((row.generic_plans, row.custom_plans) for row in rows) == [(0, 6), (6, 0)]
    finally:
        await engine.dispose()
