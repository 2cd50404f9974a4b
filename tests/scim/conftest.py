"""Fixtures: the scim-api and user-store over HTTP, on the embedded pairing (in-process bus and
SQLite) and on the production one (Kafka and PostgreSQL); every protocol test runs on both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_shared.bus.base import Bus
from roster_shared.bus.memory import MemoryBus

from tests.scim.stack import ScimStack, Tenant, memory_database, scim_stack


@pytest.fixture(params=["memory-sqlite", "kafka-postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[ScimStack]:
    bus: Bus
    if request.param == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="scim-tests")
        database = request.getfixturevalue("fresh_database_url")
    else:
        bus = MemoryBus(retry_backoff=0.05)
        database = memory_database(tmp_path)
    async with scim_stack(bus, database, topic_prefix=f"s{uuid.uuid4().hex[:10]}.") as running:
        yield running


@pytest.fixture
async def acme(stack: ScimStack) -> Tenant:
    return await stack.tenant("acme")
