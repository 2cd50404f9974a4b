"""Fixtures of the single sign-on tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sso.stack import SsoStack, open_stack


@pytest.fixture(params=["memory-sqlite", "kafka-postgres"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SsoStack]:
    """The real stack on both pairings."""
    opened = await open_stack(request.param, tmp_path, request)
    yield opened
    await opened.stop()


@pytest.fixture
async def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SsoStack]:
    """The embedded pairing only (protocol checks that do not depend on the bus)."""
    opened = await open_stack("memory-sqlite", tmp_path, request)
    yield opened
    await opened.stop()
