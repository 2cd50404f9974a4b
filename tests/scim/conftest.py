"""Fixtures: the scim-api and user-store over HTTP, on the embedded pairing (in-process bus and
SQLite) and on the production one (Kafka and PostgreSQL); every protocol test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_testing.topics import topic_prefix

from tests.scim.stack import (
    PAIRINGS,
    READER,
    ScimStack,
    Tenant,
    pairing,
    scim_stack,
    stack_settings,
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test of a stack runs on both pairings; a module that sets ``READER_TOO = True``
    also on Kafka + PostgreSQL with the scim-api reading as the reader role (scim_api.reader)."""
    if "stack" in metafunc.fixturenames:
        reader = getattr(metafunc.module, "READER_TOO", False)
        metafunc.parametrize("stack", [*PAIRINGS, *([READER] if reader else [])], indirect=True)


@pytest.fixture
async def stack(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[ScimStack]:
    bus, database = pairing(request, tmp_path, "scim-tests")
    async with (
        stack_settings(request, database) as settings,
        scim_stack(
            bus, database, topic_prefix=topic_prefix("s"), scim_settings=settings
        ) as running,
    ):
        yield running


@pytest.fixture
async def acme(stack: ScimStack) -> Tenant:
    return await stack.tenant("acme")
