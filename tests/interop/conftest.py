"""Interop fixtures: the user-store and the scim-api on real Kafka and PostgreSQL, over HTTP.

Each test gets its own database and its own topics (a random prefix), so IdP scenarios never
see one another's events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from roster_shared.bus.kafka import KafkaBus
from roster_testing.topics import topic_prefix

from tests.scim.stack import ScimStack, scim_stack


@pytest.fixture
async def stack(kafka_bootstrap: str, fresh_database_url: str) -> AsyncIterator[ScimStack]:
    bus = KafkaBus(kafka_bootstrap, client_id="interop")
    async with scim_stack(bus, fresh_database_url, topic_prefix=topic_prefix("i")) as running:
        yield running
