"""The login dry run (user_store.login_dry_run): the real JIT rules decide, nothing is kept.
Refusals a mode-and-userName preview cannot see (a link to another subject, a deactivated
account found by its link) come back with the real reason; a would-create and a would-update
say so; and afterwards the database holds exactly what it held before (no user, no change, no
outbox or history row). On Kafka + PostgreSQL and memory + SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from roster_shared.events import ingest
from roster_shared.events.envelope import Source
from roster_shared.tenants import ProvisioningMode, TenantInfo, TenantPolicy
from sqlalchemy import func, select
from user_store import login_dry_run
from user_store.keys import SESSIONS
from user_store.tables import OutboxRow, UserRow
from user_store.user_history import user_history

from tests.integration.harness import (
    PairingSuite,
    Stack,
    login,
    routes_client,
    scim_user,
)


class LoginDryRunContract(PairingSuite):
    @pytest.fixture
    async def client(self, stack: Stack) -> AsyncIterator[TestClient[Any, Any]]:
        async with routes_client(login_dry_run.routes, {SESSIONS: stack.sessions}) as client:
            yield client

    async def _state(self, stack: Stack) -> tuple[Any, ...]:
        """Everything a login could write: users (with versions), outbox and history rows."""
        async with stack.sessions() as session:
            rows = (await session.execute(select(UserRow))).scalars().all()
            users = sorted((u.id, u.version, u.given_name, u.last_login_at) for u in rows)
            outbox = (await session.execute(select(func.count()).select_from(OutboxRow))).scalar()
            history = (
                await session.execute(select(func.count()).select_from(user_history))
            ).scalar()
        return tuple(users), outbox, history

    async def _dry(
        self, client: TestClient[Any, Any], stack: Stack, event: ingest.UserUpserted
    ) -> dict[str, Any]:
        before = await self._state(stack)
        response = await client.post(
            f"/internal/tenants/{event.tenant_id}/logins/dry-run",
            data=event.model_dump_json(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status == 200, await response.text()
        assert await self._state(stack) == before  # nothing kept, whatever the verdict
        body: dict[str, Any] = await response.json()
        return body

    async def _settled(self, stack: Stack, tenant: TenantInfo) -> None:
        """Wait until the relay has drained the outbox (so its count is stable)."""
        await stack.services[0].relay.publish_pending()

    async def test_link_to_another_subject_is_refused_with_the_real_reason(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant(policy=TenantPolicy(allow_email_linking=True))
        victim = await stack.send(
            login(tenant, "sub-carol", "carol@example.com", emails=[{"value": "carol@example.com"}])
        )
        assert victim.user is not None
        await self._settled(stack, tenant)
        attack = login(
            tenant,
            "sub-mallory",
            "carol@example.com",
            emails=[{"value": "carol@example.com"}],
            verified="carol@example.com",
        )
        body = await self._dry(client, stack, attack)
        error = body["reply"]["error"]
        assert error["code"] == "link_refused"
        assert "already linked to another subject" in error["detail"]

    async def test_a_deactivated_account_is_refused(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.JIT)
        made = await stack.send(login(tenant, "sub-erin", "erin@example.com"))
        assert made.user is not None
        off = await stack.send(
            ingest.UserDeactivated(
                tenant_id=tenant.id,
                source=Source.ADMIN,
                data={"user_id": made.user.id, "reason": "left"},
            )
        )
        assert off.ok
        await self._settled(stack, tenant)
        body = await self._dry(client, stack, login(tenant, "sub-erin", "erin@example.com"))
        assert body["reply"]["error"]["code"] == "deactivated"

    async def test_a_mode_that_refuses_jit(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.SCIM)
        body = await self._dry(client, stack, login(tenant, "sub-fay", "fay@example.com"))
        assert body["reply"]["error"]["code"] == "not_provisioned"

    async def test_would_create_and_would_update(
        self, stack: Stack, client: TestClient[Any, Any]
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.SCIM_JIT)
        new = await self._dry(client, stack, login(tenant, "sub-gus", "gus@example.com"))
        assert new["reply"]["error"] is None and new["reply"]["created"] is True
        assert new["reply"]["user"]["user_name"] == "gus@example.com"
        assert await self._state(stack) == ((), 0, 0)  # still no one
        made = await stack.send(scim_user(tenant, "hal@example.com", "ext-hal"))
        assert made.user is not None
        linked = await stack.send(
            login(tenant, "sub-hal", "hal@example.com", verified="hal@example.com")
        )
        assert linked.ok, linked.error
        await self._settled(stack, tenant)
        again = await self._dry(
            client, stack, login(tenant, "sub-hal", "hal@example.com", given_name="Hal")
        )
        assert again["reply"]["error"] is None and again["reply"]["created"] is False
        assert again["reply"]["user"]["id"] == made.user.id
        assert "given_name" in again["changed"]

    async def test_bad_requests(self, stack: Stack, client: TestClient[Any, Any]) -> None:
        tenant = await stack.tenant()
        other = await stack.tenant("globex")
        event = login(tenant, "sub-ida", "ida@example.com")
        wrong = await client.post(
            f"/internal/tenants/{other.id}/logins/dry-run", data=event.model_dump_json()
        )
        assert wrong.status == 400 and "tenant" in await wrong.text()
        scim = await client.post(
            f"/internal/tenants/{tenant.id}/logins/dry-run",
            data=scim_user(tenant, "ida@example.com").model_dump_json(),
        )
        assert scim.status == 400 and "logins" in await scim.text()
        junk = await client.post(f"/internal/tenants/{tenant.id}/logins/dry-run", data=b"[1]")
        assert junk.status == 400


class TestMemorySqlite(LoginDryRunContract):
    bus_kind = "memory"
    db_kind = "sqlite"


class TestKafkaPostgres(LoginDryRunContract):
    bus_kind = "kafka"
    db_kind = "postgres"
