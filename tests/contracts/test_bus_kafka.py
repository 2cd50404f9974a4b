"""The bus contract against a real Kafka broker (``kafka_bootstrap``: roster_testing)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import murmur2
from roster_shared.bus import Bus, BusError, KafkaBus, Record
from roster_shared.bus.base import Message
from roster_shared.bus.kafka.group import GroupMember
from roster_shared.topics import TopicSpec

from tests.contracts.bus_contract import BusContract, BusFactory, Inbox, rec, text, unique
from tests.contracts.buses import contract_kafka_bus


class TestKafkaBus(BusContract):
    @pytest.fixture(autouse=True)
    def _bootstrap(self, kafka_bootstrap: str) -> None:
        self.bootstrap = kafka_bootstrap

    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        return lambda: contract_kafka_bus(self.bootstrap, "roster-contract")

    def bus_with_backoff(self, seconds: float) -> Bus:
        return contract_kafka_bus(self.bootstrap, "roster-contract", (seconds, seconds))

    def partition_of(self, key: str, partitions: int) -> int:
        return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

    async def join_under_way(self, bus: Bus, group: str) -> None:
        # The coordinator holds the group in PreparingRebalance from a new member's JoinGroup
        # until every member rejoined; sub1 rejoins only after its revocation, i.e. after the
        # batch in hand.
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            while True:
                [response] = await admin.describe_consumer_groups([group])
                [(error_code, _, state, *_)] = response.groups
                assert error_code == 0, response
                if state == "PreparingRebalance":
                    return
                await asyncio.sleep(0.02)
        finally:
            await admin.close()

    async def topic_info(self, bus: Bus, name: str) -> tuple[int, dict[str, str]] | None:
        assert isinstance(bus, KafkaBus)
        admin = AIOKafkaAdminClient(bootstrap_servers=bus.bootstrap)
        await admin.start()
        try:
            # All topics: naming a missing one would auto-create it.
            topics = {t["topic"]: t for t in await admin.describe_topics()}
            topic = topics.get(name)
            if topic is None or topic["error_code"] != 0:
                return None
            [response] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name)]
            )
            [resource] = response.resources
            assert resource[0] == 0, resource
            config = {entry[0]: entry[1] for entry in resource[4]}
            return len(topic["partitions"]), config
        finally:
            await admin.close()

    # -- Kafka only: failures are bounded and reported as BusError -------------------------

    async def test_unreachable_broker_is_a_bus_error(self) -> None:
        bus = KafkaBus("127.0.0.1:9", request_timeout_ms=2_000)
        with pytest.raises(BusError):
            await bus.start()
        await bus.stop()

    async def test_refused_send_is_a_bus_error(self, bus: Bus) -> None:
        topic = unique("small")
        await bus.ensure_topics([TopicSpec(topic, 1, {"max.message.bytes": "1024"})])
        with pytest.raises(BusError, match="send failed"):
            await bus.send(Record(topic, "k", b"x" * 10_000))

    async def test_send_is_bounded_by_send_timeout(self, kafka_bootstrap: str, bus: Bus) -> None:
        # No broker answers in a microsecond: stands in for an outage the idempotent producer
        # would otherwise wait through.
        topic = await self.topic(bus)
        impatient = KafkaBus(kafka_bootstrap, send_timeout=1e-6)
        await impatient.start()
        try:
            with pytest.raises(BusError, match="not acknowledged"):
                await impatient.send(Record(topic, "k", b"v"))
        finally:
            await impatient.stop()

    async def test_a_key_that_is_not_utf8_is_handed_over_not_fatal(
        self, kafka_bootstrap: str, bus: Bus
    ) -> None:
        topic = await self.topic(bus, partitions=1)
        inbox = Inbox()
        sub = bus.subscribe(unique("g"), [topic], inbox)
        await sub.start()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"after", key=b"\xff\xfe")
            await producer.send_and_wait(topic, b"fine", key=b"tenant")
        finally:
            await producer.stop()
        await self.eventually(lambda: len(inbox.messages) == 2, "both records")
        odd, fine = inbox.messages
        assert odd.key is None and odd.raw_key == b"\xff\xfe" and odd.undecodable_key
        assert fine.key == "tenant" and not fine.undecodable_key
        assert sub.alive
        await sub.stop()

    async def test_next_batch_is_handled_while_a_commit_is_in_flight(self, bus: Bus) -> None:
        """The group coordinator answers an offset commit after its append linger (~6 ms here):
        the loop hands the next batch over meanwhile, and a stop still waits until every
        handled batch is committed. The consumer's commits are held at a gate (the real
        commit, late), standing for a coordinator slow to answer."""
        topic = await self.topic(bus, partitions=1)
        group = unique("g")
        handled = Inbox()
        sub = bus.subscribe(group, [topic], handled)
        await sub.start()
        assert isinstance(sub, GroupMember) and sub._consumer is not None
        consumer = sub._consumer
        gate = asyncio.Event()
        asked: list[dict[TopicPartition, int]] = []
        commit = consumer.commit

        async def held(offsets: dict[TopicPartition, int]) -> None:
            asked.append(dict(offsets))
            await gate.wait()
            await commit(offsets)

        consumer.commit = held  # type: ignore[method-assign]
        await bus.send(rec(topic, "tenant", "m0"))
        await self.eventually(lambda: len(asked) == 1, "the first batch's commit, held")
        await bus.send(rec(topic, "tenant", "m1"))
        await self.eventually(lambda: "m1" in handled.values(), "the next batch, commit held")
        assert len(asked) == 1, "one commit in flight at a time: m1's offset waits its turn"

        stopping = asyncio.create_task(sub.stop())
        gate.set()
        await asyncio.wait_for(stopping, self.wait_timeout)
        tp = TopicPartition(topic, 0)
        assert [offsets[tp] for offsets in asked] == [1, 2], "m1's offset committed at stop"

        await bus.send(rec(topic, "tenant", "m2"))
        again = Inbox()
        sub2 = bus.subscribe(group, [topic], again)
        await sub2.start()
        await self.eventually(lambda: "m2" in again.values(), "the new record")
        await sub2.stop()
        assert again.values() == ["m2"], "a handled batch was delivered again"

    async def test_reachable(self, bus: Bus) -> None:
        assert await bus.reachable()
        unstarted = KafkaBus("127.0.0.1:9")
        assert not await unstarted.reachable()

    # -- Kafka only: many records of one partition travel as batches of their own ----------

    async def test_a_partitions_many_records_keep_partition_order_and_headers(
        self, bus: Bus
    ) -> None:
        # 1,200 records of ~400 bytes for one key fill more than one 256 KiB batch of their
        # own (producer.BULK and on); the three for another key go through send(). Each lands
        # where Kafka's default partitioner puts its key, in the order given, headers intact.
        topic = await self.topic(bus, partitions=4)
        pad = "x" * 400
        records = [
            rec(topic, "bulk", f"bulk:{i}:{pad}", (("n", str(i).encode()), ("k", b"bulk")))
            for i in range(1200)
        ]
        for i in range(3):
            records.insert(i * 500, rec(topic, "lone", f"lone:{i}", (("n", str(i).encode()),)))
        await bus.send_batch(records)
        handled = Inbox()
        sub = bus.subscribe(unique("g"), [topic], handled)
        await sub.start()
        await self.eventually(lambda: len(handled.messages) == 1203, "every record")
        await sub.stop()
        for key, count in (("bulk", 1200), ("lone", 3)):
            mine = [m for m in handled.messages if m.key == key]
            assert {m.partition for m in mine} == {self.partition_of(key, 4)}
            assert [m.offset for m in mine] == sorted(m.offset for m in mine)
            assert [text(m).split(":")[1] for m in mine] == [str(i) for i in range(count)]
            assert [dict(m.headers)["n"] for m in mine] == [str(i).encode() for i in range(count)]
        assert all(dict(m.headers)["k"] == b"bulk" for m in handled.messages if m.key == "bulk")

    # -- Kafka only: a batch across partitions (the user-store's ingest consumer) ------------

    async def test_across_partitions_hands_several_partitions_over_in_one_batch(
        self, bus: Bus
    ) -> None:
        # Records of every partition are there before the member joins, so its first fetch
        # brings several partitions: one handler call takes them all, each in its order.
        topic = await self.topic(bus, partitions=4)
        keys = [f"k{n}" for n in range(40)]
        await bus.send_batch([rec(topic, key, f"{key}:{i}") for i in range(3) for key in keys])
        handled = Inbox()
        sub = bus.subscribe(unique("g"), [topic], handled, across_partitions=True)
        await sub.start()
        await self.eventually(lambda: len(handled.messages) == 120, "every record")
        assert max(len({m.partition for m in batch}) for batch in handled.batches) > 1
        for batch in handled.batches:
            for partition in {m.partition for m in batch}:
                offsets = [m.offset for m in batch if m.partition == partition]
                assert offsets == sorted(offsets), "each partition's records in order"
        assert sorted(handled.values()) == sorted(f"{k}:{i}" for i in range(3) for k in keys)
        for key in keys:
            assert [v for v in handled.values() if v.split(":")[0] == key] == [
                f"{key}:{i}" for i in range(3)
            ]
        # Committed for every partition: a new member of the group reads nothing again.
        await sub.stop()
        group_again = Inbox()
        assert isinstance(sub, GroupMember)
        again = bus.subscribe(sub.group, [topic], group_again, across_partitions=True)
        await again.start()
        await self.drain(bus, topic, keys, group_again)
        await again.stop()
        assert group_again.messages == []

    async def test_across_partitions_a_failing_partition_holds_up_only_itself(self) -> None:
        # The bad record fails every batch it is in. Its first batch also held the other
        # partitions' records: that batch fails as a whole, then each partition goes alone —
        # the others are handled at once, and only the bad one waits out its (long) backoff.
        bus = self.bus_with_backoff(120.0)
        await bus.start()
        try:
            topic = await self.topic(bus, partitions=4)
            bad = self.partition_of("bad", 4)
            good = [k for k in (f"good{n}" for n in range(40)) if self.partition_of(k, 4) != bad]
            await bus.send_batch([rec(topic, "bad", "poison")] + [rec(topic, k, k) for k in good])
            attempts: list[set[int]] = []
            handled = Inbox()

            async def handler(batch: Sequence[Message]) -> None:
                if any(m.partition == bad for m in batch):
                    attempts.append({m.partition for m in batch})
                    raise RuntimeError("poison")
                await handled(batch)

            sub = bus.subscribe(unique("g"), [topic], handler, across_partitions=True)
            await sub.start()
            await self.eventually(lambda: len(handled.messages) == len(good), "the others")
            assert sorted(handled.values()) == sorted(good)
            assert len(attempts[0]) > 1, "the first batch held several partitions"
            assert attempts[1:] == [{bad}], "then the bad one alone, once, before its backoff"
            assert sub.alive
            waiting = [p for p in sub.progress() if p.partition == bad and p.topic == topic]
            assert waiting and waiting[0].lag == 1, sub.progress()
            await sub.stop()
        finally:
            await bus.stop()
