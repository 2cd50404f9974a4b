"""``roster dlq list|show|replay|drop`` on Kafka + PostgreSQL (directly on the broker and through
the admin API) and on the embedded bus (through the admin API, its only way in).

On PostgreSQL the whole operator's story runs: an event the database refuses (a CHECK
constraint the test adds) is dead-lettered; the constraint goes (the fix); ``replay`` publishes
it again with its event id and it is applied; a second replay is refused; ``drop`` sets another
letter aside. On the embedded bus a replayed poison fails again and comes back as a new letter
with the same event id.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from roster_cli.main import main
from roster_shared.bus.base import Bus, Record
from roster_shared.bus.memory import MemoryBus
from roster_shared.bus.requests import Requester
from roster_shared.events.codec import event_record
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from user_store import tenants
from user_store.app import create_app
from user_store.db import create_engine, session_factory
from user_store.settings import UserStoreSettings
from user_store.tables import UserRow

from tests.integration.harness import scim_user

ADMIN = "dlq-admin-token"


class Installation:
    def __init__(self, bus: Bus, engine: AsyncEngine, prefix: str, url: str) -> None:
        self.bus = bus
        self.engine = engine
        self.topics = Topics(prefix)
        self.prefix = prefix
        self.url = url
        self.sessions = session_factory(engine)
        self.requester = Requester(bus, topic=self.topics.replies)

    async def tenant(self) -> TenantInfo:
        async with self.sessions() as session, session.begin():
            return await tenants.create_tenant(
                session, f"t{uuid.uuid4().hex[:8]}", ProvisioningMode.SCIM_JIT
            )

    def api(self) -> list[str]:
        return ["--url", self.url, "--admin-token", ADMIN]

    async def roster(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
        code = await asyncio.to_thread(main, ["dlq", *args, "--json"])
        out = capsys.readouterr().out.strip().splitlines()
        return code, json.loads(out[-1]) if out else None

    async def letters(self, capsys: pytest.CaptureFixture[str], n: int) -> list[dict[str, Any]]:
        """The unresolved letters, once there are ``n`` (the DLQ is written after the commit)."""
        async with asyncio.timeout(30):
            while True:
                code, listed = await self.roster(capsys, "list", *self.api())
                assert code == 0, listed
                if len(listed["letters"]) >= n:
                    return list(listed["letters"])
                await asyncio.sleep(0.2)


@pytest.fixture(params=["kafka-postgres", "memory-sqlite"])
async def installation(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Installation]:
    bus: Bus
    if request.param == "kafka-postgres":
        from roster_shared.bus.kafka import KafkaBus

        database = request.getfixturevalue("fresh_database_url")
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), client_id="test-dlq")
    else:
        database = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
        bus = MemoryBus(retry_backoff=0.05)
    engine = create_engine(database)
    prefix = topic_prefix("d")
    settings = UserStoreSettings(
        database_url=database, admin_token=ADMIN, topic_prefix=prefix, topic_partitions=2
    )
    await bus.start()
    server = TestServer(create_app(settings, bus=bus, engine=engine))
    await server.start_server()
    world = Installation(bus, engine, prefix, str(server.make_url("")).rstrip("/"))
    await world.requester.start()
    try:
        yield world
    finally:
        await world.requester.stop()
        await server.close()
        await bus.stop()
        await engine.dispose()


async def test_replay_after_a_fix_and_drop(
    installation: Installation, capsys: pytest.CaptureFixture[str]
) -> None:
    world = installation
    tenant = await world.tenant()
    poison = {
        "event_id": str(uuid.uuid4()),
        "type": "user.upserted",
        "tenant_id": tenant.id,
        "source": "scim",
        "data": {"attributes": {"user_name": "nul\u0000@example.com"}},
    }
    await world.bus.send(Record(world.topics.ingest, tenant.id, json.dumps(poison).encode()))
    [nul] = await world.letters(capsys, 1)
    assert nul["kind"] == "invalid" and "U+0000" in nul["reason"]
    code, shown = await world.roster(capsys, "show", nul["id"], *world.api())
    assert code == 0 and shown["event_id"] == poison["event_id"], shown

    if isinstance(world.bus, MemoryBus):
        # Replayed unfixed, it fails again: a new letter, the same event id.
        code, done = await world.roster(capsys, "replay", nul["id"], *world.api())
        assert code == 0 and done["resolution"] == "replayed", done
        [again] = await world.letters(capsys, 1)
        assert again["id"] != nul["id"] and again["event_id"] == poison["event_id"]
        code, done = await world.roster(capsys, "drop", again["id"], *world.api())
        assert code == 0 and done["resolution"] == "dropped"
        assert await world.letters(capsys, 0) == []
        return

    direct = ["--kafka", world.bus.bootstrap, "--topic-prefix", world.prefix]  # type: ignore[attr-defined]
    code, done = await world.roster(capsys, "drop", nul["id"], *direct)
    assert code == 0 and done["resolution"] == "dropped", done

    async with world.engine.begin() as connection:
        await connection.execute(
            sa.text("ALTER TABLE users ADD CONSTRAINT dlq_fix CHECK (user_name <> 'fixme@x.io')")
        )
    event = scim_user(tenant, "fixme@x.io")
    reply = await world.requester.request(
        event_record(world.topics.ingest, event), event.event_id, timeout=30
    )
    assert reply.error is not None
    [refused] = await world.letters(capsys, 1)
    assert refused["kind"] == "database" and refused["event_id"] == event.event_id
    async with world.engine.begin() as connection:  # the fix
        await connection.execute(sa.text("ALTER TABLE users DROP CONSTRAINT dlq_fix"))

    code, done = await world.roster(capsys, "replay", refused["id"], *direct)
    assert code == 0 and done["resolution"] == "replayed", done
    async with asyncio.timeout(30):
        while not await _has_user(world, "fixme@x.io"):
            await asyncio.sleep(0.1)
    code, listed = await world.roster(capsys, "list", *direct)
    assert code == 0 and listed["letters"] == []
    code, failed = await world.roster(capsys, "replay", refused["id"], *world.api())
    assert code == 1 and "already replayed or dropped" in failed["detail"], failed
    code, everything = await world.roster(capsys, "list", "--all", *world.api())
    assert {x["id"] for x in everything["letters"]} == {nul["id"], refused["id"]}


async def _has_user(world: Installation, name: str) -> bool:
    async with world.sessions() as session:
        found = await session.execute(select(UserRow).where(col(UserRow.user_name) == name))
        return found.first() is not None
