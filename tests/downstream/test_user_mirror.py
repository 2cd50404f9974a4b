"""The example app of docs/consuming-events.md, as a real process on Kafka, against a user-store
on PostgreSQL: after a mix of SCIM and JIT changes its table equals the user-store's — after a
bootstrap, after a SIGKILL mid-stream and a restart, and after a replay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from roster_events import reset_group
from roster_shared.bus.kafka import KafkaBus
from roster_testing.topics import topic_prefix

from tests.downstream.mirror import (
    MirrorProcess,
    caught_up,
    handled_events,
    mirror_rows,
    mix,
    wait_equal,
)
from tests.scim.stack import ScimStack, Tenant, scim_stack


# Three app processes, a kill, two replays on a broker shared by several test runs: minutes.
@pytest.mark.timeout(300)
async def test_the_example_app_keeps_the_user_store_s_users(
    kafka_bootstrap: str, fresh_database_url: str, tmp_path: Path
) -> None:
    prefix = topic_prefix("m")
    group = f"mirror-{uuid.uuid4().hex[:6]}"
    bus = KafkaBus(kafka_bootstrap, client_id="mirror-tests")
    async with scim_stack(bus, fresh_database_url, topic_prefix=prefix) as stack:
        apps: list[MirrorProcess] = []

        def app(tenant: Tenant, database: Path) -> MirrorProcess:
            apps.append(MirrorProcess(kafka_bootstrap, tenant.info.id, database, prefix, group))
            return apps[-1]

        try:
            await _scenario(stack, kafka_bootstrap, group, tmp_path, app)
        finally:
            for each in apps:
                each.close()


async def _scenario(
    stack: ScimStack,
    kafka: str,
    group: str,
    tmp_path: Path,
    app_for: Callable[[Tenant, Path], MirrorProcess],
) -> None:
    started = datetime.now(UTC)
    lifecycle = stack.topics.lifecycle
    acme = await stack.tenant()
    other = await stack.tenant()
    # Before the app exists: it must bootstrap these from roster.users.
    await mix(stack, acme, "early", 5)
    await mix(stack, other, "other", 2)
    database = tmp_path / "mirror.db"
    app = app_for(acme, database)
    app.start()
    assert await wait_equal(stack, acme.info.id, database) >= 5

    # Changes while it runs; killed (SIGKILL) in the middle of them, then started again.
    changes = asyncio.create_task(mix(stack, acme, "live", 12))
    while handled_events(database) < 10:
        await asyncio.sleep(0.05)
    app.kill()
    assert not changes.done()  # killed mid-stream
    await changes
    await mix(stack, other, "other-late", 2)  # on the same partition or not: never in acme's
    app.start()
    await wait_equal(stack, acme.info.id, database)
    await caught_up(kafka, group, lifecycle, acme.info.id)
    first = await app.stop()
    assert first["bootstrapped"] == 0, first  # resumed from its committed offset
    names = [row[1] for row in mirror_rows(database)]
    assert names and not [name for name in names if "other" in name], names

    # Replay into the same table: every event read again is recognised by its id.
    before = handled_events(database)
    moved = await reset_group(kafka, group, lifecycle, to_time=started, tenant_id=acme.info.id)
    assert moved and moved[0].after < (moved[0].before or 0), moved
    app.start()
    await caught_up(kafka, group, lifecycle, acme.info.id)
    replayed = await app.stop()
    # Every id the app handled is skipped; what it saw only as the bootstrap snapshot comes as
    # events now, and the version guard keeps those from going back in time.
    assert replayed["duplicates"] == before, (replayed, before)
    await wait_equal(stack, acme.info.id, database)

    # Replay into an empty table: the events alone rebuild it.
    fresh = tmp_path / "rebuilt.db"
    await reset_group(kafka, group, lifecycle, to_time=started, tenant_id=acme.info.id)
    rebuilt = app_for(acme, fresh)
    rebuilt.start()
    await wait_equal(stack, acme.info.id, fresh)
    await caught_up(kafka, group, lifecycle, acme.info.id)
    stats = await rebuilt.stop()
    assert stats["snapshots"] == 0 and stats["events"] == handled_events(fresh), stats
    assert stats["events"] >= handled_events(database), stats
