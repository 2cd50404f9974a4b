"""The bus contract against a real Kafka broker (``kafka_bootstrap``: roster_testing)."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from roster_shared.bus import Bus, BusError, KafkaBus, Record
from roster_shared.topics import TopicSpec

from tests.contracts.bus_contract import BusContract, BusFactory, unique
from tests.contracts.buses import contract_kafka_bus


class TestKafkaBus(BusContract):
    @pytest.fixture
    def bus_factory(self, kafka_bootstrap: str) -> BusFactory:
        return lambda: contract_kafka_bus(kafka_bootstrap, "roster-contract")

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
