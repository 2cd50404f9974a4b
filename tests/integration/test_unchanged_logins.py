"""A returning login that changes nothing but the last login is applied as one update
(``Logins._unchanged_login``): it must answer exactly what the general path answers, emit
nothing, keep exactly one effect per event id, and never let a deactivated account in. On the
embedded pairing and the production one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from roster_shared.events import ingest
from roster_shared.events.envelope import new_id
from roster_shared.events.people import UserSnapshot
from roster_shared.events.replies import ErrorCode
from roster_shared.tenants import ProvisioningMode, TenantPolicy
from user_store.snapshots import load_user_snapshot
from user_store.tables import UserRow

from tests.integration.harness import PairingSuite, Stack, login, scim_user

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(event: ingest.UserUpserted, when: datetime) -> ingest.UserUpserted:
    """The same login, made at ``when`` (a new event id, as each login is)."""
    data = event.data.model_copy(update={"login_at": when})
    return event.model_copy(update={"event_id": new_id(), "data": data})


def utc(snapshot: UserSnapshot) -> dict[str, Any]:
    """A snapshot's fields, times in UTC: SQLite gives back naive UTC times where the session's
    own row (what a reply is built from, on either path) holds aware ones."""
    return {
        k: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
        for k, v in dict(snapshot).items()
    }


def caused_by(events: list[dict[str, Any]], event_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["data"].get("caused_by") == event_id]


class UnchangedLogins(PairingSuite):
    async def test_it_records_the_last_login_and_answers_what_the_general_path_does(
        self, stack: Stack
    ) -> None:
        tenant = await stack.tenant(
            mode=ProvisioningMode.JIT, policy=TenantPolicy(jit_group_sync=True)
        )
        lifecycle = await stack.collect(stack.topics.lifecycle)
        first = login(tenant, "sub-ada", "ada@example.com", groups=["Staff", "eng"])
        made = await stack.send(at(first, T0))
        assert made.ok and made.created and made.user is not None
        assert [g.display for g in made.user.groups] == ["eng", "Staff"]

        # The same person again, the group names spelled otherwise (keys compare).
        again = at(
            login(tenant, "sub-ada", "ada@example.com", groups=["ENG", "staff"]),
            T0 + timedelta(hours=1),
        )
        reply = await stack.send(again)
        assert reply.ok and not reply.created and reply.user is not None
        assert reply.user.last_login_at == T0 + timedelta(hours=1)
        assert reply.user.version == made.user.version  # nothing else changed
        # The reply is the account as the general path reads it, last login included.
        async with stack.sessions() as session:
            row = await session.get(UserRow, made.user.id)
            assert row is not None
            stored = await load_user_snapshot(session, row)
        assert utc(reply.user) == utc(stored)
        assert utc(reply.user) == {**utc(made.user), "last_login_at": T0 + timedelta(hours=1)}

        # It emitted nothing: once a later event's user.created is in, none caused by it is.
        await stack.marker(tenant, lifecycle)
        assert caused_by(lifecycle.events(), again.event_id) == []

        # Exactly one effect per event id: the same event again gets the stored reply, and a
        # later login's last-login time is not overwritten by it.
        later = await stack.send(at(again, T0 + timedelta(hours=2)))
        assert later.user is not None and later.user.last_login_at == T0 + timedelta(hours=2)
        redelivered = await stack.send(again)
        assert redelivered == reply
        async with stack.sessions() as session:
            row = await session.get(UserRow, made.user.id)
        assert row is not None and row.last_login_at is not None
        assert row.last_login_at.replace(tzinfo=UTC) == T0 + timedelta(hours=2)

    async def test_a_changed_group_claim_still_changes_the_memberships(self, stack: Stack) -> None:
        tenant = await stack.tenant(
            mode=ProvisioningMode.JIT, policy=TenantPolicy(jit_group_sync=True)
        )
        lifecycle = await stack.collect(stack.topics.lifecycle)
        made = await stack.send(login(tenant, "sub-bo", "bo@example.com", groups=["a", "b"]))
        assert made.user is not None
        dropped = login(tenant, "sub-bo", "bo@example.com", groups=["a"])
        reply = await stack.send(dropped)
        assert reply.user is not None and [g.display for g in reply.user.groups] == ["a"]
        await lifecycle.wait_for(
            lambda c: len(caused_by(c.events("membership.removed"), dropped.event_id)) == 1
        )
        # A changed attribute is an update with its event, as before.
        renamed = login(tenant, "sub-bo", "bo@example.com", groups=["a"], family_name="Bo")
        reply = await stack.send(renamed)
        assert reply.user is not None and reply.user.family_name == "Bo"
        assert reply.user.version == made.user.version + 1
        await lifecycle.wait_for(
            lambda c: len(caused_by(c.events("user.updated"), renamed.event_id)) == 1
        )

    async def test_a_deactivated_account_is_refused_on_the_very_next_login(
        self, stack: Stack
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.SCIM_JIT)
        name = f"cy-{uuid.uuid4().hex[:6]}@example.com"
        made = await stack.send(at(login(tenant, "sub-cy", name), T0))
        assert made.user is not None
        unchanged = await stack.send(at(login(tenant, "sub-cy", name), T0 + timedelta(hours=1)))
        assert unchanged.ok and unchanged.user is not None
        off = await stack.send(scim_user(tenant, name, active=False, target_id=made.user.id))
        assert off.user is not None and not off.user.active
        refused = await stack.send(at(login(tenant, "sub-cy", name), T0 + timedelta(hours=2)))
        assert refused.error is not None and refused.error.code is ErrorCode.DEACTIVATED
        assert refused.error.detail == "this account is deactivated"
        async with stack.sessions() as session:
            row = await session.get(UserRow, made.user.id)
        assert row is not None and not row.active and row.last_login_at is not None
        assert row.last_login_at.replace(tzinfo=UTC) == T0 + timedelta(hours=1)


class TestMemoryBusSqlite(UnchangedLogins):
    bus_kind = "memory"
    db_kind = "sqlite"


class TestKafkaPostgres(UnchangedLogins):
    bus_kind = "kafka"
    db_kind = "postgres"
