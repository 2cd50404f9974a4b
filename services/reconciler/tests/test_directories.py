"""The connectors against the local stand-ins of each vendor's API: paging, statuses, deleted
users, 429 with Retry-After, a failing page, a wrong token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from reconciler.directory import DirectoryError, HttpClient, RetryPolicy, Status, connector
from reconciler.directory.base import retry_after
from roster_testing.directories import DirectoryStandIn, Person

TOKEN = "tok-123"
WHEN = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def people() -> list[Person]:
    return [
        Person("00000000-0000-0000-0000-00000000000a", "ann@example.com"),
        Person("00000000-0000-0000-0000-00000000000b", "bob@example.com", "disabled", WHEN),
        Person("00000000-0000-0000-0000-00000000000c", "cy@example.com"),
        Person("00000000-0000-0000-0000-00000000000d", "dee@example.com", "deleted", WHEN),
        Person("00000000-0000-0000-0000-00000000000e", "eve@example.com"),
    ]


@pytest.fixture
async def directory() -> AsyncIterator[DirectoryStandIn]:
    stand_in = DirectoryStandIn(people(), token=TOKEN, page_size=2)
    async with stand_in.running():
        yield stand_in


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("kind", ["graph", "okta", "google", "scim"])
async def test_complete_snapshot_over_pages(
    kind: str, directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    http = HttpClient(session, sleep=Sleeps())
    snapshot = await connector(kind, directory.base(kind), TOKEN, http).snapshot()
    by_name = {u.names[0]: u for u in snapshot.users}
    assert by_name["ann@example.com"].status is Status.ACTIVE
    assert by_name["bob@example.com"].status is Status.DISABLED
    assert snapshot.pages >= 2
    if kind == "scim":
        assert "dee@example.com" not in by_name  # a SCIM server simply no longer lists them
        assert len(snapshot.users) == 4
    else:
        assert by_name["dee@example.com"].status is Status.DELETED
        assert len(snapshot.users) == 5
    if kind in ("okta", "graph"):
        assert by_name["dee@example.com"].changed_at == WHEN
    if kind == "okta":
        assert by_name["bob@example.com"].detail == "status SUSPENDED"
        assert by_name["dee@example.com"].detail == "status DEPROVISIONED"


@pytest.mark.parametrize("kind", ["graph", "okta", "google", "scim"])
async def test_429_waits_as_told(
    kind: str, directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    directory.faults.throttle_pages[kind] = {2}
    directory.faults.retry_after = "7"
    sleeps = Sleeps()
    snapshot = await connector(
        kind, directory.base(kind), TOKEN, HttpClient(session, sleep=sleeps)
    ).snapshot()
    assert 7.0 in sleeps.waits
    assert snapshot.retries >= 1
    assert len(snapshot.users) >= 4


@pytest.mark.parametrize("kind", ["graph", "okta", "google", "scim"])
async def test_a_failing_page_fails_the_snapshot(
    kind: str, directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    directory.faults.fail_pages[kind] = {2}
    http = HttpClient(session, RetryPolicy(attempts=3, base_delay=0.01), sleep=Sleeps())
    with pytest.raises(DirectoryError, match="HTTP 500"):
        await connector(kind, directory.base(kind), TOKEN, http).snapshot()
    assert http.requests >= 4  # page 1, then page 2 three times


async def test_a_long_retry_after_gives_up_instead_of_stalling(
    directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    directory.faults.throttle_pages["okta"] = {1}
    directory.faults.retry_after = "3600"
    http = HttpClient(session, RetryPolicy(max_delay=60), sleep=Sleeps())
    with pytest.raises(DirectoryError, match="asked to wait 3600s"):
        await connector("okta", directory.base("okta"), TOKEN, http).snapshot()


async def test_a_wrong_token_is_not_retried(
    directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    http = HttpClient(session, sleep=Sleeps())
    with pytest.raises(DirectoryError, match="HTTP 401"):
        await connector("graph", directory.base("graph"), "wrong", http).snapshot()
    assert http.requests == 1


async def test_graph_delta_rounds(
    directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    graph = connector("graph", directory.base("graph"), TOKEN, HttpClient(session))
    assert hasattr(graph, "delta")
    first = await graph.delta(None)
    assert len(first.users) == 4  # every live user
    assert first.delta_link
    directory.people[0].status = "disabled"
    directory.people[2].status = "deleted"
    second = await graph.delta(first.delta_link)
    changes = {u.id[-1]: u.status for u in second.users}
    assert changes == {"a": Status.DISABLED, "c": Status.DELETED}
    assert second.delta_link and second.delta_link != first.delta_link


def test_retry_after_forms() -> None:
    assert retry_after({"Retry-After": "12"}) == 12.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470) == 10.0
    assert retry_after({"X-Rate-Limit-Reset": "1000"}, now=990.0) == 10.0
    assert retry_after({}) is None


async def test_okta_spent_rate_limit_waits_for_the_reset(
    directory: DirectoryStandIn, session: aiohttp.ClientSession
) -> None:
    directory.okta_remaining = 0
    sleeps = Sleeps()
    await connector(
        "okta", directory.base("okta"), TOKEN, HttpClient(session, sleep=sleeps)
    ).snapshot()
    # every answer said no calls were left: each next call waited for X-Rate-Limit-Reset
    assert sleeps.waits and all(55 <= wait <= 60 for wait in sleeps.waits)
