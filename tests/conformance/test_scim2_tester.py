"""Conformance: scim2-tester's ``check_server`` against the running service over HTTP.

The service runs on Kafka and PostgreSQL and is served on a real port; the tester's synchronous
client runs in a worker thread so the event loop keeps serving. Done when every check on Users
and Groups ends in SUCCESS: none skipped (its two ``search_with_attributes`` checks need
``POST /.search`` across resource types, RFC 7644 §3.4.3, which is served) and none in
COMPLIANT, ACCEPTABLE, DEVIATION, ERROR or CRITICAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx2
import pytest
from roster_shared.bus.kafka import KafkaBus
from roster_testing.topics import topic_prefix
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.scim.stack import ScimStack, Tenant, scim_stack


@pytest.fixture
async def stack(kafka_bootstrap: str, fresh_database_url: str) -> AsyncIterator[ScimStack]:
    bus = KafkaBus(kafka_bootstrap, client_id="conformance")
    async with scim_stack(bus, fresh_database_url, topic_prefix=topic_prefix("c")) as running:
        yield running


def _check(tenant: Tenant) -> list[object]:
    with httpx2.Client(
        base_url=tenant.base, headers={"Authorization": f"Bearer {tenant.token}"}, timeout=30
    ) as http:
        client = SyncSCIMClient(http)
        return list(check_server(client, resource_types=["User", "Group"]))


async def test_scim2_tester_finds_nothing_wrong(stack: ScimStack) -> None:
    tenant = await stack.tenant("conformance")
    results = await asyncio.to_thread(_check, tenant)
    assert results
    report = [
        f"{r.status.name} {r.title} [{getattr(r, 'resource_type', '')}]: {r.reason}"  # type: ignore[attr-defined]
        for r in results
    ]
    not_success = [
        line
        for r, line in zip(results, report, strict=True)
        if r.status is not Status.SUCCESS  # type: ignore[attr-defined]
    ]
    print("\n".join(report))
    assert not not_success, "\n".join(not_success)
    # The two checks that used to be skipped ran, on both resource types.
    searched = [r for r in results if r.title == "search_with_attributes"]  # type: ignore[attr-defined]
    assert sorted(r.resource_type for r in searched) == ["Group", "Group", "User", "User"]  # type: ignore[attr-defined]
