"""Fixtures: the scim-api and user-store on the in-process bus and SQLite (fast protocol tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_shared.bus.memory import MemoryBus

from tests.scim.stack import ScimStack, Tenant, memory_database, scim_stack


@pytest.fixture
async def stack(tmp_path: Any) -> AsyncIterator[ScimStack]:
    async with scim_stack(MemoryBus(retry_backoff=0.05), memory_database(tmp_path)) as running:
        yield running


@pytest.fixture
async def acme(stack: ScimStack) -> Tenant:
    return await stack.tenant("acme")
