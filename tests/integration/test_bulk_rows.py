"""One statement for several tables' rows (``user_store.bulk_rows``, PostgreSQL): the rows land
in the order given (the outbox's ids are its publishing order), JSON columns keep their values,
and a value too long for its column is refused with nothing written, never truncated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from roster_shared.events.envelope import utcnow
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.bulk_rows import insert_rows
from user_store.db import session_factory
from user_store.tables import OutboxRow, ProcessedEventRow

OUTBOX: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
PROCESSED: sa.Table = ProcessedEventRow.__table__  # type: ignore[attr-defined]


def _outbox(key: str, topic: str = "t.lifecycle") -> dict[str, object]:
    return {
        "topic": topic,
        "key": key,
        "value": '{"k": "' + key + '"}',
        "headers": [["content-type", "application/json"]],
        "created_at": utcnow(),
    }


def _processed(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "tenant_id": "t1", "processed_at": utcnow(), "reply": "{}"}


async def test_rows_land_in_the_order_given_with_their_json(engine: AsyncEngine) -> None:
    # Keys in an order that sorts differently from the order given: only the id order counts.
    keys = [f"k{(i * 37) % 50:02d}" for i in range(50)]
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await insert_rows(
            session,
            [
                (PROCESSED, [_processed("e1"), _processed("e2")]),
                (OUTBOX, [_outbox(k) for k in keys]),
            ],
        )
        # A second batch in the same transaction comes after the first.
        await insert_rows(session, [(PROCESSED, []), (OUTBOX, [_outbox("later")])])
    async with sessions() as session:
        rows = (
            await session.execute(sa.select(OUTBOX.c.key, OUTBOX.c.headers).order_by(OUTBOX.c.id))
        ).all()
        processed = (await session.execute(sa.select(PROCESSED.c.event_id))).scalars().all()
    assert [row.key for row in rows] == [*keys, "later"]
    assert all(row.headers == [["content-type", "application/json"]] for row in rows)
    assert sorted(processed) == ["e1", "e2"]


async def test_a_value_too_long_is_refused_and_nothing_of_the_statement_is_written(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    with pytest.raises(DBAPIError) as refused:
        async with sessions() as session, session.begin():
            await insert_rows(
                session,
                [
                    (PROCESSED, [_processed("e1")]),
                    (OUTBOX, [_outbox("ok"), _outbox("long", topic="t" * 257)]),  # max 256
                ],
            )
    # Refused for its length (SQLSTATE 22001), not cut to fit.
    assert getattr(refused.value.orig, "sqlstate", None) == "22001"
    async with sessions() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(OUTBOX))).scalar() == 0
        assert (
            await session.execute(sa.select(sa.func.count()).select_from(PROCESSED))
        ).scalar() == 0
