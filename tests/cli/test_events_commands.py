"""``roster events tail|show|replay`` against a real Kafka broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from roster_cli.main import main
from roster_events import tenant_partition
from roster_shared.bus.base import Message
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events import lifecycle
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source, new_id, utcnow
from roster_shared.events.people import UserSnapshot
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix

PARTITIONS = 4


def created(tenant: str, name: str, version: int = 1) -> lifecycle.UserCreated:
    now = utcnow()
    user = UserSnapshot(
        id=new_id(),
        tenant_id=tenant,
        user_name=f"{name}@example.com",
        external_id=None,
        active=True,
        origin="scim",
        scim_managed=True,
        version=version,
        created_at=now,
        updated_at=now,
    )
    return lifecycle.UserCreated(
        tenant_id=tenant, source=Source.SCIM, data=lifecycle.UserChange(user=user)
    )


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[tuple[KafkaBus, Topics]]:
    topics = Topics(topic_prefix("ev"))
    bus = KafkaBus(kafka_bootstrap, client_id="events-cli-tests")
    await bus.start()
    await bus.ensure_topics(topics.specs(PARTITIONS))
    try:
        yield bus, topics
    finally:
        await bus.stop()


async def roster(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def two_tenants_on_one_partition() -> tuple[str, str]:
    first = new_id()
    while True:
        second = new_id()
        if tenant_partition(second, PARTITIONS) == tenant_partition(first, PARTITIONS):
            return first, second


async def test_tail_shows_one_tenant_s_events_in_order(
    kafka: tuple[KafkaBus, Topics], kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bus, topics = kafka
    acme, other = two_tenants_on_one_partition()  # the partition holds both: tail filters
    events = [created(acme, "ada"), created(other, "eve"), created(acme, "bob")]
    for event in events:
        await bus.send(event_record(topics.lifecycle, event))
    base = ("events", "tail", "--kafka", kafka_bootstrap, "--topic-prefix", topics.prefix)
    code, out, _ = await roster(
        capsys, *base, "--tenant", acme, "--from", "0", "--no-follow", "--json"
    )
    assert code == 0
    assert [json.loads(line)["event_id"] for line in out.splitlines()] == [
        events[0].event_id,
        events[2].event_id,
    ]
    code, out, _ = await roster(capsys, *base, "--tenant", acme, "--from", "0", "--no-follow")
    lines = out.splitlines()
    assert "user.created" in lines[0] and "ada@example.com" in lines[0] and "v1" in lines[0]
    assert events[2].event_id in lines[1] and "eve" not in out


async def test_tail_follows_new_events_from_a_time(
    kafka: tuple[KafkaBus, Topics], kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bus, topics = kafka
    acme = new_id()
    await bus.send(event_record(topics.lifecycle, created(acme, "before")))
    since = datetime.now(UTC).isoformat()
    tail = asyncio.create_task(
        roster(
            capsys,
            *("events", "tail", "--kafka", kafka_bootstrap, "--topic-prefix", topics.prefix),
            *("--tenant", acme, "--from", since, "--limit", "2"),
        )
    )
    later = [created(acme, "after-1"), created(acme, "after-2")]
    for event in later:
        await bus.send(event_record(topics.lifecycle, event))
    code, out, _ = await asyncio.wait_for(tail, 60)
    assert code == 0
    assert "after-1@" in out and "after-2@" in out and "before@" not in out


async def test_show_finds_an_event_by_id_and_says_when_there_is_none(
    kafka: tuple[KafkaBus, Topics], kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bus, topics = kafka
    acme = new_id()
    events = [created(acme, f"u{i}") for i in range(5)]
    for event in events:
        await bus.send(event_record(topics.lifecycle, event))
    base = ("events", "show", "--kafka", kafka_bootstrap, "--topic-prefix", topics.prefix)
    code, out, _ = await roster(capsys, *base, events[3].event_id, "--json")
    assert code == 0
    found = json.loads(out)
    assert found["event"] == json.loads(events[3].model_dump_json())
    assert found["partition"] == tenant_partition(acme, PARTITIONS) and found["offset"] == 3
    missing = new_id()
    code, out, err = await roster(capsys, *base, missing, "--tenant", acme, "--json")
    assert code == 1
    assert json.loads(out)["error"] == "not_found"
    assert f"no event {missing}" in err and "5 records read" in err


async def _committed(kafka: str, group: str, tp: TopicPartition) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()


async def test_replay_moves_a_stopped_group_back_and_refuses_a_live_one(
    kafka: tuple[KafkaBus, Topics], kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bus, topics = kafka
    acme = new_id()
    tp = TopicPartition(topics.lifecycle, tenant_partition(acme, PARTITIONS))
    for i in range(3):
        await bus.send(event_record(topics.lifecycle, created(acme, f"old{i}")))
    # Kafka stamps records in whole milliseconds and the CLI cuts ``--from`` to one, so an
    # acknowledgement inside the millisecond ``middle`` falls in would put the last old record
    # at the cut: leave distinct milliseconds on both sides of it.
    await asyncio.sleep(0.01)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    for i in range(2):
        await bus.send(event_record(topics.lifecycle, created(acme, f"new{i}")))

    group = f"app-{uuid.uuid4().hex[:6]}"
    seen: list[Message] = []
    done = asyncio.Event()

    async def handler(messages: Sequence[Message]) -> None:
        seen.extend(messages)
        if sum(1 for m in seen if m.key == acme) >= 5:
            done.set()

    member = bus.subscribe(group, [topics.lifecycle], handler)
    await member.start()
    await asyncio.wait_for(done.wait(), 60)
    base = ("events", "replay", "--kafka", kafka_bootstrap, "--topic-prefix", topics.prefix)
    code, out, err = await roster(capsys, *base, "--group", group, "--from", "0", "--json")
    assert code == 1 and json.loads(out)["error"] == "group_active"
    assert "live member" in err and "stop them" in err
    await member.stop()
    assert await _committed(kafka_bootstrap, group, tp) == 5

    code, out, _ = await roster(
        capsys, *base, "--group", group, "--from", middle.isoformat(), "--tenant", acme, "--json"
    )
    assert code == 0
    assert json.loads(out)["partitions"] == [{"partition": tp.partition, "before": 5, "after": 3}]
    assert await _committed(kafka_bootstrap, group, tp) == 3
    code, out, _ = await roster(capsys, *base, "--group", group, "--from", "1", "--tenant", acme)
    assert code == 0 and "3 -> 1" in out
    assert await _committed(kafka_bootstrap, group, tp) == 1


@pytest.mark.parametrize(
    ("start", "why"), [("yesterday", "give an offset"), ("2026-12-01T10:00:00", "time zone")]
)
def test_replay_refuses_a_start_it_cannot_read(
    start: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["events", "replay", "--kafka", "127.0.0.1:1", "--group", "g", "--from", start, "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 1 and json.loads(out)["error"] == "usage" and why in err
