"""The reconciler on the real stack: Kafka, PostgreSQL and a running user-store, against the local
stand-ins of Microsoft Graph, Okta and Google (issue 5, "Done when")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from reconciler.errors import Busy
from reconciler.policy import POLICY_SECTION
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events.envelope import utcnow

from tests.integration.harness import login
from tests.integration.reconciler_world import World, deactivated, running_world


@pytest.fixture
async def world(kafka_bootstrap: str, fresh_database_url: str) -> AsyncIterator[World]:
    bus = KafkaBus(kafka_bootstrap, client_id="test-reconciler")
    async with running_world(bus, fresh_database_url) as world:
        yield world


@pytest.mark.parametrize("kind", ["graph", "okta", "google"])
async def test_a_user_disabled_in_the_directory_is_deactivated_in_one_run(
    world: World, kind: str
) -> None:
    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, kind)
    world.directory.people[3].status = "disabled"
    world.directory.faults.throttle_pages[kind] = {2}  # and a 429 on the way

    record = await (await world.reconciler()).run(tenant.slug)

    assert record.status == "completed", record.error
    assert record.directory is not None and record.directory["retries"] >= 1
    assert [a.user_id for a in record.actions] == [ids[3]]
    assert record.published == 1
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 1)
    event = deactivated(world, tenant)[0]
    assert event["source"] == "reconciler"
    assert event["correlation_id"] == record.id
    assert event["data"]["user"]["id"] == ids[3]
    expected = {"graph": "accountEnabled=false", "okta": "status SUSPENDED", "google": "suspended"}
    assert event["data"]["reason"].startswith(f"directory ({kind}): {expected[kind]}")
    assert event["data"]["user"]["deactivated_reason"] == event["data"]["reason"]


async def test_a_failure_on_page_2_changes_nothing(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 10)
    await world.connect(tenant, "okta")
    world.directory.people[0].status = "disabled"
    world.directory.faults.fail_pages["okta"] = {2}

    record = await (await world.reconciler()).run(tenant.slug)

    assert record.status == "failed"
    assert "HTTP 500" in (record.error or "")
    assert record.published == 0
    await world.stack.marker(tenant, world.lifecycle)
    assert deactivated(world, tenant) == []
    assert all((await world.active(tenant)).values())


async def test_a_snapshot_missing_60_percent_trips_the_brake_until_approved(
    world: World,
) -> None:
    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, "graph")
    world.directory.hidden = {f"dir-{i}" for i in range(6)}
    reconciler = await world.reconciler()

    held = await reconciler.run(tenant.slug)

    assert held.status == "held"
    assert held.brake is not None and held.brake["tripped"] and held.brake["share"] == 0.6
    assert {a.user_id for a in held.actions} == set(ids[:6])
    assert all(a.outcome == "held" for a in held.actions)
    await world.stack.marker(tenant, world.lifecycle)
    assert deactivated(world, tenant) == []
    # the held run waits in the records, for an admin
    store = await world.state_store()
    assert [r["id"] for r in await store.runs(tenant.id, status="held")] == [held.id]

    approved = await reconciler.approve(tenant.slug, held.id, by="alice")

    assert approved.status == "completed" and approved.approved_by == "alice"
    assert approved.published == 6
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 6)
    reasons = {e["data"]["reason"] for e in deactivated(world, tenant)}
    assert reasons == {"directory (graph): not listed in 1 complete snapshot in a row"}


async def test_a_dry_run_changes_nothing_and_reports_correctly(world: World) -> None:
    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    await world.connect(tenant, "google")
    world.directory.people[1].status = "disabled"
    world.directory.people[2].status = "deleted"

    record = await (await world.reconciler()).run(tenant.slug, dry_run=True)

    assert record.status == "completed" and record.dry_run
    assert {(a.user_id, a.outcome) for a in record.actions} == {
        (ids[1], "would"),
        (ids[2], "would"),
    }
    reasons = {a.user_id: a.reason for a in record.actions}
    assert reasons[ids[1]] == "directory (google): suspended (ADMIN)"
    assert reasons[ids[2]] == "directory (google): deleted in Google Workspace"
    assert record.published == 0
    await world.stack.marker(tenant, world.lifecycle)
    assert deactivated(world, tenant) == []
    assert all((await world.active(tenant)).values())


async def test_two_instances_never_both_run_a_tenant(world: World) -> None:
    tenant = await world.tenant()
    await world.people(tenant, 10)
    await world.connect(tenant, "okta")
    world.directory.people[0].status = "disabled"
    # a slow directory keeps the first run going while the second tries
    world.directory.faults.throttle_pages["okta"] = {1}
    first = await world.reconciler(instance="one")
    second = await world.reconciler(instance="two")

    results = await asyncio.gather(
        first.run(tenant.slug), second.run(tenant.slug), return_exceptions=True
    )

    busy = [r for r in results if isinstance(r, Busy)]
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(busy) == 1 and len(done) == 1, results
    assert done[0].published == 1
    # once the lease is released the other instance may run it
    again = await second.run(tenant.slug)
    assert again.status == "completed"


async def test_an_inactive_user_is_deactivated_after_n_days(world: World) -> None:
    tenant = await world.tenant()
    start = utcnow()
    ids = await world.people(tenant, 2)
    late = login(tenant, "sub-9", "late@example.com")
    late_data = late.data.model_copy(update={"login_at": start + timedelta(days=20)})
    assert (await world.stack.send(late.model_copy(update={"data": late_data}))).ok

    store = await world.state_store()
    policy = {"inactivity_days": 30, "brake_share": 1.0}  # 2 of 3: no brake in this test
    await store.put_settings(tenant.id, POLICY_SECTION, policy)
    now = [start + timedelta(days=29)]
    reconciler = await world.reconciler(clock=lambda: now[0])

    early = await reconciler.run(tenant.slug)
    assert early.status == "completed" and early.actions == []

    now[0] = start + timedelta(days=30, minutes=1)
    due = await reconciler.run(tenant.slug)

    assert due.status == "completed"
    assert {a.user_id for a in due.actions} == set(ids)  # "late" logged in 10 days ago
    assert all(a.signal == "inactivity" for a in due.actions)
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 2)
    assert all(
        e["data"]["reason"].startswith("inactivity: no successful login for 30 days")
        for e in deactivated(world, tenant)
    )
    assert (await world.active(tenant))["late@example.com"] is True


async def test_roster_reconcile_on_the_production_stack(
    world: World,
    kafka_bootstrap: str,
    fresh_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``roster reconcile --database-url`` publishes on Kafka for the running user-stores and
    waits for their replies; without Kafka it refuses rather than apply events itself."""
    import json

    from reconciler.credentials import new_key
    from roster_cli.main import main

    tenant = await world.tenant()
    ids = await world.people(tenant, 10)
    monkeypatch.setenv("ROSTER_DIRECTORY_KEY", new_key())
    monkeypatch.delenv("ROSTER_KAFKA_BOOTSTRAP", raising=False)
    where = ["--database-url", fresh_database_url, "--json"]

    async def cli(*args: str) -> tuple[int, dict[str, object]]:
        code = await asyncio.to_thread(main, [*args, *where])
        return code, json.loads(capsys.readouterr().out)

    url = world.directory.base("graph")
    code, _ = await cli(
        "directory",
        "connect",
        tenant.slug,
        "--kind",
        "graph",
        "--url",
        url,
        "--token",
        "directory-token",
    )
    assert code == 0
    world.directory.people[6].status = "disabled"
    code, refused = await cli("reconcile", tenant.slug)
    assert code == 1 and refused["error"] == "not_configured"

    monkeypatch.setenv("ROSTER_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("ROSTER_TOPIC_PREFIX", world.stack.topics.prefix)
    code, record = await cli("reconcile", tenant.slug)

    assert code == 0, record
    assert [(a["user_id"], a["outcome"]) for a in record["actions"]] == [(ids[6], "applied")]  # type: ignore[index,union-attr,attr-defined]
    await world.lifecycle.wait_for(lambda c: len(deactivated(world, tenant)) == 1)
