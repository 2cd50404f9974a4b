"""The test infrastructure itself: a real broker and a real database answer."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from roster_testing.postgres import database_name, normalize_database_url, redact
from roster_testing.topics import delete_topics_under, take_prefixes, topic_prefix


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def test_kafka_produce_and_consume(kafka_bootstrap: str) -> None:
    topic = f"roster-testing-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        sent = await asyncio.wait_for(
            producer.send_and_wait(topic, b"hello", key=b"tenant-1"), timeout=30
        )
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"tenant-1", b"hello")


async def test_roster_database_answers(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://")
    assert database_name(postgres_url) == "roster"
    conn = await asyncpg.connect(_libpq(postgres_url))
    try:
        assert await conn.fetchval("select current_database()") == "roster"
    finally:
        await conn.close()


async def test_fresh_database_is_empty_and_private(
    fresh_database_url: str, postgres_url: str
) -> None:
    assert fresh_database_url.startswith("postgresql+asyncpg://")
    assert database_name(fresh_database_url) != database_name(postgres_url)
    conn = await asyncpg.connect(_libpq(fresh_database_url))
    try:
        assert await conn.fetchval("select 1") == 1
        tables = await conn.fetchval(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        )
        assert tables == 0
        await conn.execute("create table probe (id int primary key, name text not null)")
        await conn.execute("insert into probe values (1, 'alice')")
        assert await conn.fetchval("select name from probe where id = 1") == "alice"
    finally:
        await conn.close()


def test_fresh_databases_differ_per_test(fresh_database_url: str) -> None:
    # A synchronous test can use the fixture too; the name carries the test's name.
    assert "test_fresh_databases_differ_per_test" in database_name(fresh_database_url)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5/db", "postgresql+asyncpg://u:p@h:5/db"),
        ("postgres://u@h/db?sslmode=disable", "postgresql+asyncpg://u@h/db?sslmode=disable"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_normalize_database_url(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


def test_normalize_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        normalize_database_url("mysql://u:secret@h/db")


def test_redact_hides_password() -> None:
    assert redact("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"


async def test_topics_under_the_given_prefixes_are_deleted_and_no_others(
    kafka_bootstrap: str,
) -> None:
    mine, theirs = topic_prefix("mine"), topic_prefix("theirs")
    names = [f"{mine}roster.ingest", f"{mine}roster.replies", f"{theirs}roster.ingest"]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=1, replication_factor=1) for n in names]
        )
        deleted = await delete_topics_under(kafka_bootstrap, [mine])
        assert sorted(deleted) == names[:2]
        async with asyncio.timeout(20):
            while set(names[:2]) & set(await admin.list_topics()):
                await asyncio.sleep(0.1)
        # Another run's topics on the same broker are left alone.
        assert names[2] in await admin.list_topics()
    finally:
        await admin.close()


def test_each_prefix_is_handed_out_once_and_taken_once() -> None:
    take_prefixes()
    first, second = topic_prefix("s"), topic_prefix("s")
    assert first != second and first.startswith("s") and first.endswith(".")
    assert take_prefixes() == [first, second]
    assert take_prefixes() == []
