"""The user-store's keeping of reconciler state: leases, run records, the state document and
the tenant's reconciler settings sections, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.events.envelope import new_id
from roster_shared.tenants import ProvisioningMode

from tests.integration.harness import internal_api

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def client(
    request: pytest.FixtureRequest, tmp_path: Path, aiohttp_client: ClientFactory
) -> AsyncIterator[TestClient]:
    acme = ("acme", ProvisioningMode.JIT)
    async with internal_api(request.param, request, tmp_path, with_tenants=[acme]) as app:
        yield await aiohttp_client(app)


async def test_one_lease_holder_at_a_time(client: TestClient) -> None:
    path = "/internal/tenants/acme/reconciler/lease"

    async def take(holder: str, ttl: float = 30) -> dict[str, object]:
        response = await client.post(path, json={"holder": holder, "ttl_seconds": ttl})
        assert response.status == 200
        result: dict[str, object] = await response.json()
        return result

    results = await asyncio.gather(*(take(f"instance-{i}") for i in range(8)))
    winners = [r for r in results if r["acquired"]]
    assert len(winners) == 1
    holder = str(winners[0]["holder"])
    assert all(r["holder"] == holder for r in results)
    assert (await take(holder))["acquired"]  # renewal
    released = await client.delete(f"{path}/{holder}")
    assert (await released.json()) == {"released": True}
    assert (await take("other", ttl=1))["acquired"]
    # The lease stays with "other" until it expires, then "third" takes the expired lease over.
    deadline = asyncio.get_running_loop().time() + 20
    while not (attempt := await take("third"))["acquired"]:
        assert attempt["holder"] == "other", attempt
        assert asyncio.get_running_loop().time() < deadline, "the expired lease was never taken"
        await asyncio.sleep(0.1)
    assert attempt["holder"] == "third"


async def test_runs_state_and_settings(client: TestClient) -> None:
    base = "/internal/tenants/acme/reconciler"
    run = [new_id(), new_id()]  # run ids are minted by new_id; the API takes no other form
    for n, status in enumerate(["completed", "held"]):
        record = {"id": run[n], "status": status, "started_at": f"2026-11-28T10:0{n}:00Z"}
        assert (await client.put(f"{base}/runs/{run[n]}", json=record)).status == 200
    runs = (await (await client.get(f"{base}/runs")).json())["runs"]
    assert [r["id"] for r in runs] == [run[1], run[0]]
    held = (await (await client.get(f"{base}/runs?status=held")).json())["runs"]
    assert [r["id"] for r in held] == [run[1]]
    assert (await (await client.get(f"{base}/runs/{run[0]}")).json())["status"] == "completed"
    assert (await client.get(f"{base}/runs/{new_id()}")).status == 404
    assert (await client.get(f"{base}/runs/nope")).status == 404

    assert await (await client.get(f"{base}/state")).json() == {}
    await client.put(f"{base}/state", json={"misses": {"u1": 2}})
    assert await (await client.get(f"{base}/state")).json() == {"misses": {"u1": 2}}

    response = await client.put(f"{base}/settings/reconciler", json={"interval_minutes": 5})
    assert (await response.json())["settings"]["reconciler"] == {"interval_minutes": 5}
    assert (await client.put(f"{base}/settings/policy", json={})).status == 400

    listed = await (await client.get("/internal/reconciler/tenants")).json()
    assert [t["slug"] for t in listed["tenants"]] == ["acme"]


async def test_a_run_record_of_10000_decisions_is_kept(client: TestClient) -> None:
    actions = [
        {"user_id": f"user-{i:05d}", "reason": "directory (graph): accountEnabled=false " * 4}
        for i in range(10_000)
    ]
    run_id = new_id()
    record = {"id": run_id, "status": "completed", "started_at": "2026-11-28T10:00:00Z"}
    payload = io.BytesIO(json.dumps({**record, "actions": actions}).encode())
    response = await client.put(
        f"/internal/tenants/acme/reconciler/runs/{run_id}",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    stored = await (await client.get(f"/internal/tenants/acme/reconciler/runs/{run_id}")).json()
    assert len(stored["actions"]) == 10_000
