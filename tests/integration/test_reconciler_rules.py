"""The reconciler's rules, one by one, on the in-process bus and SQLite (the embedded pairing):
consecutive misses, reactivation, scim+jit, the brake's rejection, rehires, the schedule and the
admin API. (The Done-when cases run on Kafka and PostgreSQL in test_reconciler.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from reconciler.app import create_app
from reconciler.errors import Conflict
from reconciler.policy import POLICY_SECTION
from reconciler.scheduler import tick
from reconciler.settings import ReconcilerSettings
from roster_shared.events.envelope import utcnow
from roster_shared.tenants import ProvisioningMode
from roster_testing.directories import Person

from tests.integration.harness import memory_bus, scim_user
from tests.integration.reconciler_world import TOKEN, World, deactivated, running_world

ClientFactory = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(memory_bus(), f"sqlite+aiosqlite:///{tmp_path / 'r.db'}") as world:
        yield world


async def test_consecutive_misses_before_acting(world: World) -> None:
    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, "okta", consecutive_misses=2)
    reconciler = await world.reconciler()
    world.directory.hidden = {"dir-7"}

    first = await reconciler.run(tenant.slug)
    assert first.actions == []
    assert [(r.user_id, r.reason) for r in first.reported] == [
        (ids[7], "directory (okta): not listed (miss 1 of 2 before deactivation)")
    ]
    # back in the directory: the count starts again
    world.directory.hidden = set()
    assert (await reconciler.run(tenant.slug)).reported == []
    world.directory.hidden = {"dir-7"}
    assert (await reconciler.run(tenant.slug)).actions == []
    last = await reconciler.run(tenant.slug)
    assert [(a.user_id, a.reason) for a in last.actions] == [
        (ids[7], "directory (okta): not listed in 2 complete snapshots in a row")
    ]


async def test_jit_reactivates_when_the_directory_says_active_again(world: World) -> None:
    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, "graph")
    reconciler = await world.reconciler()
    world.directory.people[2].status = "disabled"
    assert (await reconciler.run(tenant.slug)).published == 1
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 1)
    assert (await reconciler.run(tenant.slug)).actions == []  # already done

    world.directory.people[2].status = "active"
    back = await reconciler.run(tenant.slug)

    assert [(a.user_id, a.action) for a in back.actions] == [(ids[2], "reactivate")]
    await world.lifecycle.wait_for(
        lambda c: any(e["data"]["user"]["id"] == ids[2] for e in c.events("user.reactivated"))
    )
    assert (await world.active(tenant))["user2@example.com"] is True


async def test_an_admins_deactivation_is_not_undone(world: World) -> None:
    from roster_shared.events import ingest
    from roster_shared.events.envelope import Source

    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, "graph")
    reply = await world.stack.send(
        ingest.UserDeactivated(
            tenant_id=tenant.id,
            source=Source.ADMIN,
            data=ingest.UserRef(user_id=ids[0], reason="offboarded by the helpdesk"),
        )
    )
    assert reply.ok
    record = await (await world.reconciler()).run(tenant.slug)
    assert record.actions == []


async def test_scim_jit_looks_after_jit_only_users(world: World) -> None:
    tenant = await world.tenant(ProvisioningMode.SCIM_JIT)
    jit_ids = await world.people(tenant, 3)  # user0..2 by login
    reply = await world.stack.send(scim_user(tenant, "user5@example.com", "ext-5"))
    assert reply.ok and reply.user is not None
    scim_id = reply.user.id
    await world.connect(tenant, "google", grace_days=7, brake_share=1.0)
    world.directory.people[5].status = "disabled"  # SCIM's to act on, not ours
    world.directory.people[1].status = "disabled"
    later = utcnow() + timedelta(days=8)
    reconciler = await world.reconciler(clock=lambda: later)

    record = await reconciler.run(tenant.slug)

    assert record.checked["looked_after"] == 3
    assert [a.user_id for a in record.actions] == [jit_ids[1]]
    assert scim_id not in {a.user_id for a in record.actions + record.reported}
    unconfirmed = {r.user_id for r in record.reported if r.signal == "unconfirmed"}
    assert unconfirmed == {jit_ids[0], jit_ids[2]}
    # The run publishes without waiting for the user-store: let it apply before the next run,
    # which would otherwise still see user1 active and decide on it again.
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 1)

    store = await world.state_store()
    policy = {"grace_days": 7, "deactivate_unconfirmed": True, "brake_share": 1.0}
    await store.put_settings(tenant.id, POLICY_SECTION, policy)
    strict = await reconciler.run(tenant.slug)
    assert {(a.user_id, a.signal) for a in strict.actions} == {
        (jit_ids[0], "unconfirmed"),
        (jit_ids[2], "unconfirmed"),
    }
    assert strict.actions[0].reason.startswith("scim+jit: created by a login on ")

    # scim+jit: SCIM is authoritative, the reconciler never reactivates
    world.directory.people[1].status = "active"
    assert [
        a for a in (await reconciler.run(tenant.slug)).actions if a.action == "reactivate"
    ] == []


async def test_scim_mode_is_left_to_scim(world: World) -> None:
    tenant = await world.tenant(ProvisioningMode.SCIM)
    record = await (await world.reconciler()).run(tenant.slug)
    assert record.status == "completed"
    assert record.notes == ["mode scim: SCIM owns every account's lifecycle; nothing to do"]


async def test_a_held_run_can_be_rejected(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 5)
    await world.connect(tenant, "scim")
    world.directory.hidden = {"dir-0", "dir-1", "dir-2"}
    reconciler = await world.reconciler()
    held = await reconciler.run(tenant.slug)
    assert held.status == "held"
    rejected = await reconciler.reject(tenant.slug, held.id, by="bob")
    assert rejected.status == "rejected"
    with pytest.raises(Conflict):
        await reconciler.approve(tenant.slug, held.id, by="bob")
    assert all((await world.active(tenant)).values())


async def test_a_rehire_under_the_same_address_is_not_deactivated(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 10)
    await world.connect(tenant, "graph")
    world.directory.people.append(Person("old-3", "user3@example.com", "deleted"))
    record = await (await world.reconciler()).run(tenant.slug)
    assert record.actions == []
    assert record.directory is not None and record.directory["deleted"] == 1


async def test_the_schedule_runs_due_tenants_once_per_interval(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 2)
    other = await world.tenant(ProvisioningMode.SCIM)
    now = [utcnow()]
    reconciler = await world.reconciler(clock=lambda: now[0])
    first = await tick(reconciler)
    assert len(first) == 1  # the scim tenant is not scheduled
    assert await tick(reconciler) == []
    now[0] += timedelta(minutes=61)
    assert len(await tick(reconciler)) == 1
    store = await world.state_store()
    assert len(await store.runs(tenant.id)) == 2
    assert await store.runs(other.id) == []


async def test_admin_api(world: World, aiohttp_client: ClientFactory) -> None:
    from reconciler.credentials import new_key

    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    settings = ReconcilerSettings(
        user_store_url=world.url,
        admin_token="adm",
        directory_key=new_key(),
        schedule=False,
        topic_prefix=world.stack.topics.prefix,
    )
    client = await aiohttp_client(create_app(settings, bus=world.stack.bus))
    auth = {"Authorization": "Bearer adm"}
    base = f"/reconciler/tenants/{tenant.slug}"

    assert (await client.get(f"{base}/runs")).status == 401
    connect = await client.put(
        f"{base}/directory",
        json={"kind": "okta", "url": world.directory.base("okta"), "token": TOKEN},
        headers=auth,
    )
    assert connect.status == 200
    assert TOKEN not in await connect.text()
    policy = await client.put(f"{base}/policy", json={"interval_minutes": 15}, headers=auth)
    assert (await policy.json())["interval_minutes"] == 15

    world.directory.people[9].status = "disabled"
    dry = await (await client.post(f"{base}/runs", json={"dry_run": True}, headers=auth)).json()
    assert dry["dry_run"] and [a["user_id"] for a in dry["actions"]] == [ids[9]]

    world.directory.hidden = {f"dir-{i}" for i in range(5)}
    held = await (await client.post(f"{base}/runs", json={}, headers=auth)).json()
    assert held["status"] == "held"
    listed = await (await client.get(f"{base}/runs?status=held", headers=auth)).json()
    assert [r["id"] for r in listed["runs"]] == [held["id"]]
    approved = await client.post(
        f"{base}/runs/{held['id']}/approve", json={"by": "carol"}, headers=auth
    )
    assert (await approved.json())["approved_by"] == "carol"
    again = await client.post(f"{base}/runs/{held['id']}/approve", headers=auth)
    assert again.status == 409
    assert (await client.get("/reconciler/tenants/nope/runs", headers=auth)).status == 404
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 6)


async def test_an_instance_that_lost_its_lease_changes_nothing(world: World) -> None:
    import asyncio

    tenant = await world.tenant()
    await world.people(tenant, 10)
    await world.connect(tenant, "okta")
    world.directory.people[0].status = "disabled"
    world.directory.faults.throttle_pages["okta"] = {1}
    world.directory.faults.retry_after = "2"  # keeps the first run busy for two seconds
    slow = await world.reconciler(instance="slow", lease_ttl=1.5)
    store = await world.state_store()
    run = asyncio.create_task(slow.run(tenant.slug))
    while not world.directory.throttled:  # the run holds the lease and reads the directory
        await asyncio.sleep(0.05)
    # an operator (or an expiry) hands the tenant to another instance meanwhile
    await store.release(tenant.id, "slow")
    assert (await store.acquire(tenant.id, "other", 60))[0]

    record = await run

    assert record.status == "failed"
    assert "LeaseLost" in (record.error or "")
    assert record.published == 0
    assert all((await world.active(tenant)).values())


async def test_a_newer_run_supersedes_a_held_one(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 5)
    await world.connect(tenant, "okta")
    world.directory.hidden = {"dir-0", "dir-1", "dir-2"}
    reconciler = await world.reconciler()
    first = await reconciler.run(tenant.slug)
    second = await reconciler.run(tenant.slug)
    assert first.status == second.status == "held"
    store = await world.state_store()
    assert [r["id"] for r in await store.runs(tenant.id, status="held")] == [second.id]
    old = await store.run(tenant.id, first.id)
    assert old["status"] == "rejected" and old["notes"][-1] == f"superseded by run {second.id}"
    with pytest.raises(Conflict):
        await reconciler.approve(tenant.slug, first.id, by="dana")
    # and the schedule does not retry a held tenant before its interval
    from reconciler.scheduler import tick

    assert await tick(reconciler) == []
