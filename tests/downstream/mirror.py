"""Helpers for the downstream tests: a mix of SCIM and JIT changes, the example app as a real
process, and the comparison of its table with the user-store's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from roster_events import tenant_partition
from roster_events.kafka import topic_partitions
from roster_shared.events import ingest
from roster_shared.events.envelope import Source, utcnow
from sqlmodel import col, select
from user_store.tables import UserRow

from tests.scim.stack import ScimStack, Tenant

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "user-mirror" / "user_mirror.py"
FIELDS = ("id", "user_name", "external_id", "active", "display_name", "given_name", "version")


async def scim_create(tenant: Tenant, name: str) -> str:
    status, body, _ = await tenant.request(
        "POST",
        "/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"{name}@example.com",
            "externalId": f"ext-{name}",
            "name": {"givenName": name.title(), "familyName": "Tester"},
            "emails": [{"value": f"{name}@example.com", "type": "work", "primary": True}],
            "active": True,
        },
    )
    assert status == 201, body
    return str(body["id"])


async def scim_patch(tenant: Tenant, user_id: str, operations: list[dict[str, Any]]) -> None:
    status, body, _ = await tenant.request(
        "PATCH",
        f"/Users/{user_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": operations,
        },
    )
    assert status == 200, body


async def scim_delete(tenant: Tenant, user_id: str) -> None:
    status, body, _ = await tenant.request("DELETE", f"/Users/{user_id}")
    assert status == 204, body


async def jit_login(stack: ScimStack, tenant: Tenant, subject: str, user_name: str) -> None:
    """A first login of someone SCIM never sent (scim+jit creates them), or a later one."""
    event = ingest.UserUpserted(
        tenant_id=tenant.info.id,
        source=Source.JIT,
        data=ingest.UserUpsertedData(
            attributes={"user_name": user_name, "display_name": f"JIT {subject}"},
            identity_link={"issuer": "https://idp.example.com", "subject": subject},
            login_at=utcnow(),
        ),
    )
    reply = await stack.login(event)
    assert reply.ok, reply


async def mix(stack: ScimStack, tenant: Tenant, tag: str, count: int) -> None:
    """``count`` rounds of SCIM creates, renames, deactivations, deletions and JIT logins."""
    for i in range(count):
        name = f"{tag}-{i}"
        user_id = await scim_create(tenant, name)
        await scim_patch(
            tenant, user_id, [{"op": "replace", "path": "displayName", "value": f"{name} v2"}]
        )
        await jit_login(stack, tenant, f"sub-{name}", f"jit-{name}@example.com")
        if i % 3 == 1:
            await scim_patch(tenant, user_id, [{"op": "replace", "path": "active", "value": False}])
        if i % 4 == 2:
            await scim_delete(tenant, user_id)
        if i % 2 == 0:
            await jit_login(stack, tenant, f"sub-{name}", f"jit-{name}@example.com")


async def store_rows(stack: ScimStack, tenant_id: str) -> list[tuple[Any, ...]]:
    """The tenant's live users in the user-store, as the example app keeps them."""
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                select(UserRow)
                .where(UserRow.tenant_id == tenant_id, col(UserRow.deleted_at).is_(None))
                .order_by(col(UserRow.id))
            )
        ).scalars()
        return [tuple(getattr(row, f) for f in FIELDS) for row in rows]


def mirror_rows(database: Path) -> list[tuple[Any, ...]]:
    """The example app's table (empty if it has not made it yet)."""
    if not database.exists():
        return []
    with sqlite3.connect(database) as db:
        try:
            rows = db.execute(f"SELECT {', '.join(FIELDS)} FROM users ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return []
    return [(*row[:3], bool(row[3]), *row[4:]) for row in rows]


def handled_events(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM handled_events").fetchone()[0])


async def wait_equal(stack: ScimStack, tenant_id: str, database: Path, timeout: float = 60) -> int:
    """Wait until the app's table equals the user-store's; returns how many users."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        expected = await store_rows(stack, tenant_id)
        got = mirror_rows(database)
        if got == expected:
            return len(expected)
        if asyncio.get_running_loop().time() > deadline:
            log = database.with_suffix(".log")
            tail = log.read_text()[-3000:] if log.exists() else ""
            raise AssertionError(f"mirror differs:\nexpected {expected}\ngot {got}\n{tail}")
        await asyncio.sleep(0.2)


class MirrorProcess:
    """The example app, started as its README says, in a process of its own."""

    def __init__(self, kafka: str, tenant_id: str, database: Path, prefix: str, group: str):
        self.args = [
            sys.executable,
            str(EXAMPLE),
            "--kafka",
            kafka,
            "--tenant",
            tenant_id,
            "--database",
            str(database),
            "--topic-prefix",
            prefix,
            "--group",
            group,
        ]
        self.log = database.with_suffix(".log")
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with self.log.open("a") as errors:
            self.process = subprocess.Popen(
                self.args,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self) -> None:
        """SIGKILL: no clean stop, no last commit."""
        assert self.process is not None
        self.process.kill()
        self.process.communicate(timeout=30)

    def close(self) -> None:
        """Kill it if it still runs (the end of a failed test)."""
        if self.process is not None and self.process.returncode is None:
            self.kill()

    async def stop(self) -> dict[str, int]:
        """SIGTERM: stops after the event in hand; returns the counters it printed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = await asyncio.to_thread(self.process.communicate, timeout=60)
        assert self.process.returncode == 0, out
        return dict(json.loads(out.strip().splitlines()[-1]))


async def caught_up(
    kafka: str, group: str, topic: str, tenant_id: str, timeout: float = 90
) -> None:
    """Wait until the group's committed offset on the tenant's partition is at its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        count = len(await topic_partitions(consumer, topic))
        tp = TopicPartition(topic, tenant_partition(tenant_id, count))
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            end = (await consumer.end_offsets([tp]))[tp]
            if await consumer.committed(tp) == end:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"group {group} not caught up with {tp} (end {end})")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
