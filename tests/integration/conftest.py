"""Fixtures shared by the integration tests that work on the user-store's database directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store.db import create_engine, migrate


@pytest.fixture
async def engine(fresh_database_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated user-store database of the test's own."""
    engine = create_engine(fresh_database_url)
    await migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
