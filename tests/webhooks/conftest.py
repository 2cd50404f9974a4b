"""Fixtures: the composed stack on the embedded pairing and on Kafka + PostgreSQL, and the
receiver process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_testing.topics import topic_prefix

from tests.scim.stack import PAIRINGS, pairing
from tests.webhooks.stack import HookStack, Receiver, receiver, webhook_stack


@pytest.fixture(params=PAIRINGS)
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[HookStack]:
    bus, database = pairing(request, tmp_path, "webhook-tests")
    async with webhook_stack(bus, database, topic_prefix=topic_prefix("w")) as running:
        yield running


@pytest.fixture
async def hooks() -> AsyncIterator[Receiver]:
    async with receiver() as running:
        yield running
