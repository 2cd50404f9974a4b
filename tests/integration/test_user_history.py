"""A user's lifecycle history (user_store.user_history): written with the outbox row of each
lifecycle event, so it agrees with ``roster.lifecycle``; read newest first, paged, per tenant;
bounded by the housekeeper's retention. Run on Kafka + PostgreSQL and memory + SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.events import ingest
from roster_shared.events.envelope import Source, utcnow
from roster_shared.tenants import ProvisioningMode
from user_store import user_history
from user_store.keys import READ_SESSIONS

from tests.integration.harness import (
    PairingSuite,
    Stack,
    login,
    routes_client,
    scim_user,
)


class UserHistoryContract(PairingSuite):
    @pytest.fixture
    async def client(self, stack: Stack) -> AsyncIterator[TestClient[Any, Any]]:
        """The history route as the user-store serves it (its error middleware included)."""
        async with routes_client(user_history.routes, {READ_SESSIONS: stack.sessions}) as client:
            yield client

    async def _history(
        self, client: TestClient[Any, Any], tenant_id: str, user_id: str, **query: Any
    ) -> dict[str, Any]:
        response = await client.get(
            f"/internal/tenants/{tenant_id}/users/{user_id}/history", params=query
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def test_history_agrees_with_the_lifecycle_topic(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        created = await stack.send(scim_user(tenant, "ada@example.com", "ext-ada"))
        assert created.user is not None
        uid = created.user.id
        updated = await stack.send(
            scim_user(tenant, "ada@example.com", "ext-ada", given_name="Ada", target_id=uid)
        )
        assert updated.ok
        group = await stack.send(
            ingest.GroupUpserted(
                tenant_id=tenant.id,
                source=Source.SCIM,
                data={"display_name": "Engineering", "member_ids": [uid]},
            )
        )
        assert group.ok
        off = await stack.send(
            ingest.UserDeactivated(
                tenant_id=tenant.id,
                source=Source.RECONCILER,
                correlation_id="run-42",
                data={"user_id": uid, "reason": "left the directory"},
            )
        )
        assert off.ok
        assert (
            await stack.send(
                ingest.UserDeleted(tenant_id=tenant.id, source=Source.SCIM, data={"user_id": uid})
            )
        ).ok

        def about_user(event: dict[str, Any]) -> bool:
            data = event["data"]
            return bool(data.get("user_id") == uid or data.get("user", {}).get("id") == uid)

        await lifecycle.wait_for(lambda c: any(about_user(e) for e in c.events("user.deleted")))
        published = [e for e in lifecycle.events() if about_user(e)]
        body = await self._history(client, tenant.id, uid)
        entries = body["entries"]
        # The same events, one for one, newest first.
        assert [e["event_id"] for e in entries] == [e["event_id"] for e in reversed(published)]
        assert [e["type"] for e in entries] == [
            "membership.removed",  # a deletion ends the memberships, after the user.deleted
            "user.deleted",
            "user.deactivated",
            "membership.added",
            "user.updated",
            "user.created",
        ]
        by_type = {e["type"]: e for e in entries}
        assert "given_name" in by_type["user.updated"]["changed"]
        deactivated = by_type["user.deactivated"]
        assert deactivated["source"] == "reconciler"
        assert deactivated["correlation_id"] == "run-42"
        assert deactivated["reason"] == "left the directory"
        assert by_type["membership.added"]["group"] == "Engineering"
        assert body["next"] is None
        # Only names of attributes are kept, never their values.
        assert "ext-ada" not in str(entries) and "'Ada'" not in str(entries)

    async def test_paged_newest_first_and_tenant_scoped(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.JIT)
        other = await stack.tenant("globex")
        first = await stack.send(login(tenant, "sub-bo", "bo@example.com", given_name="B0"))
        assert first.user is not None
        uid = first.user.id
        for n in range(1, 5):
            assert (
                await stack.send(login(tenant, "sub-bo", "bo@example.com", given_name=f"B{n}"))
            ).ok
        page1 = await self._history(client, tenant.id, uid, limit=2)
        assert [e["type"] for e in page1["entries"]] == ["user.updated", "user.updated"]
        assert all(e["source"] == "jit" for e in page1["entries"])
        page2 = await self._history(client, tenant.id, uid, limit=2, before=page1["next"])
        page3 = await self._history(client, tenant.id, uid, limit=2, before=page2["next"])
        assert [e["type"] for e in page3["entries"]] == ["user.created"]
        assert page3["next"] is None
        ids = [e["event_id"] for p in (page1, page2, page3) for e in p["entries"]]
        assert len(ids) == len(set(ids)) == 5
        # Another tenant asking for this user: not found, as on every /internal user route.
        foreign = await client.get(f"/internal/tenants/{other.id}/users/{uid}/history")
        assert foreign.status == 404
        bad = await client.get(
            f"/internal/tenants/{tenant.id}/users/{uid}/history", params={"limit": "x"}
        )
        assert bad.status == 400 and "limit" in await bad.text()

    async def test_pruning_bounds_the_history(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        created = await stack.send(scim_user(tenant, "cy@example.com", "ext-cy"))
        assert created.user is not None
        uid = created.user.id

        async def count() -> int:
            async with stack.sessions() as session:
                rows, _ = await user_history.read_history(
                    session, tenant.id, uid, limit=100, before=None
                )
            return len(rows)

        assert await count() == 1
        # Younger than the retention: kept; older: deleted.
        assert await user_history.prune_history(stack.sessions, utcnow() - timedelta(days=1)) == 0
        assert await count() == 1
        pruned = await user_history.prune_history(stack.sessions, utcnow() + timedelta(seconds=1))
        assert pruned >= 1
        assert await count() == 0


class TestMemorySqlite(UserHistoryContract):
    bus_kind = "memory"
    db_kind = "sqlite"


class TestKafkaPostgres(UserHistoryContract):
    bus_kind = "kafka"
    db_kind = "postgres"
