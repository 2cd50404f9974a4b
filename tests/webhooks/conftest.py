"""Fixtures: the composed stack on the embedded pairing and on Kafka + PostgreSQL, and the
receiver process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_shared.bus.base import Bus
from roster_shared.bus.memory import MemoryBus

from tests.scim.stack import memory_database
from tests.webhooks.stack import HookStack, Receiver, receiver, webhook_stack


@pytest.fixture(params=["memory-sqlite", "kafka-postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[HookStack]:
    bus: Bus
    if request.param == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="webhook-tests")
        database = request.getfixturevalue("fresh_database_url")
    else:
        bus = MemoryBus(retry_backoff=0.05)
        database = memory_database(tmp_path)
    async with webhook_stack(bus, database, topic_prefix=f"w{uuid.uuid4().hex[:10]}.") as running:
        yield running


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as running:
        yield running
