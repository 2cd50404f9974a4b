"""Fixtures: the scim-api and user-store over HTTP, on the embedded pairing (in-process bus and
SQLite) and on the production one (Kafka and PostgreSQL); every protocol test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_testing.topics import topic_prefix

from tests.scim.stack import PAIRINGS, ScimStack, Tenant, pairing, scim_stack


@pytest.fixture(params=PAIRINGS)
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[ScimStack]:
    bus, database = pairing(request, tmp_path, "scim-tests")
    async with scim_stack(bus, database, topic_prefix=topic_prefix("s")) as running:
        yield running


@pytest.fixture
async def acme(stack: ScimStack) -> Tenant:
    return await stack.tenant("acme")
