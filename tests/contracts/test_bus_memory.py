"""The bus contract against the in-process bus of the embedded mode."""

from __future__ import annotations

import asyncio

import pytest
from roster_shared.bus import Bus, MemoryBus
from roster_shared.bus.memory import partition_for

from tests.contracts.bus_contract import BusContract, BusFactory
from tests.contracts.buses import contract_memory_bus


class TestMemoryBus(BusContract):
    @pytest.fixture
    def bus_factory(self) -> BusFactory:
        return contract_memory_bus

    async def topic_info(self, bus: Bus, name: str) -> tuple[int, dict[str, str]] | None:
        assert isinstance(bus, MemoryBus)
        topic = bus._topics.get(name)
        return None if topic is None else (len(topic.logs), dict(topic.config))

    def bus_with_backoff(self, seconds: float) -> Bus:
        return MemoryBus(retry_backoff=seconds)

    def partition_of(self, key: str, partitions: int) -> int:
        return partition_for(key, partitions)

    async def join_under_way(self, bus: Bus, group: str) -> None:
        # A member joins when its start() runs; the partition it takes over stays locked by
        # the member handling a batch of it (``_claim``) until that batch commits.
        assert isinstance(bus, MemoryBus)
        while len(bus._groups[group].members) < 2:
            await asyncio.sleep(0)
