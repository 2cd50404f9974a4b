"""A batch of SCIM writes is applied on the fast pass — no savepoints, nothing read or flushed
per event — and ends exactly as applying its events one by one would (Kafka + PostgreSQL).

What the fast pass defers and could get wrong: a replaced user's e-mail index rows (deleted and
written in bulk; a user replaced twice keeps only its latest), its snapshot's identity links
(read once for the batch, not per event), new accounts inserted with the batch's other rows in
one statement (their e-mail rows refer to them), and the lifecycle events and replies of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from roster_shared.bus.kafka import KafkaBus
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.tenants import ProvisioningMode, TenantInfo
from roster_shared.topics import Topics
from roster_testing.topics import topic_prefix
from sqlalchemy.ext.asyncio import AsyncEngine
from user_store import tenants
from user_store.db import create_engine, migrate, session_factory
from user_store.service import UserStoreService

from tests.integration.harness import login

pytestmark = pytest.mark.integration


class World:
    def __init__(self, engine: AsyncEngine, bus: KafkaBus, topics: Topics) -> None:
        self.engine = engine
        self.bus = bus
        self.topics = topics
        self.service = UserStoreService(engine, bus, topics=topics, migrate_on_start=False)

    async def apply(self, events: list[ingest.UserUpserted]) -> None:
        """Produce the events, then start the service so it fetches them as one batch, and
        wait until all are applied and the outbox is drained."""
        await self.bus.send_batch([event_record(self.topics.ingest, e) for e in events])
        target = self.service.processor.applied + len(events)
        await self.service.start()
        try:
            async with asyncio.timeout(60):
                while self.service.processor.applied < target:
                    await asyncio.sleep(0.02)
            while await self.service.relay.publish_pending():
                pass
        finally:
            await self.service.stop()

    @contextlib.contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL statements the database is sent meanwhile, in order."""
        sent: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        sa.event.listen(self.engine.sync_engine, "before_cursor_execute", seen)
        try:
            yield sent
        finally:
            sa.event.remove(self.engine.sync_engine, "before_cursor_execute", seen)

    async def rows(self, statement: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(sa.text(statement), params)).all())

    async def reply(self, event: ingest.UserUpserted) -> dict[str, Any]:
        (row,) = await self.rows(
            "SELECT reply FROM processed_events WHERE event_id = :id", id=event.event_id
        )
        reply: dict[str, Any] = json.loads(row.reply)
        return reply


@pytest.fixture
async def world(fresh_database_url: str, kafka_bootstrap: str) -> AsyncIterator[World]:
    engine = create_engine(fresh_database_url)
    await migrate(engine)
    topics = Topics(prefix=topic_prefix("fast"))
    bus = KafkaBus(kafka_bootstrap, client_id="test-fast-pass")
    await bus.start()
    try:
        await bus.ensure_topics(topics.specs(3))
        yield World(engine, bus, topics)
    finally:
        await bus.stop()
        await engine.dispose()


async def _tenant(world: World) -> TenantInfo:
    async with session_factory(world.engine)() as session, session.begin():
        return await tenants.create_tenant(session, "fast", ProvisioningMode.SCIM_JIT)


def _scim(tenant: TenantInfo, name: str, emails: list[str], target: str | None = None) -> Any:
    return ingest.UserUpserted(
        tenant_id=tenant.id,
        source=Source.SCIM,
        data=ingest.UserUpsertedData(
            attributes={
                "user_name": name,
                "given_name": name.split("@")[0],
                "emails": [{"value": e, "primary": i == 0} for i, e in enumerate(emails)],
            },
            target_id=target,
        ),
    )


async def test_a_batch_of_creates_and_replaces_ends_as_one_by_one_would(world: World) -> None:
    tenant = await _tenant(world)
    # A login-made account with an identity link, and a SCIM-made one.
    made = login(tenant, "sub-1", "ann@example.com")
    bob = _scim(tenant, "bob@example.com", ["bob@example.com", "bob@home.example"])
    await world.apply([made, bob])
    ann_id = (await world.reply(made))["user"]["id"]
    bob_id = (await world.reply(bob))["user"]["id"]

    # One batch: Ann replaced twice (her e-mails twice), Bob once, and two new accounts.
    ann_1 = _scim(tenant, "ann@example.com", ["a1@example.com", "a2@example.com"], ann_id)
    ann_2 = _scim(tenant, "ann@example.com", ["a3@example.com"], ann_id)
    bob_2 = _scim(tenant, "bob@example.com", ["bob@work.example"], bob_id)
    cid = _scim(tenant, "cid@example.com", ["cid@example.com", "cid@home.example"])
    dee = _scim(tenant, "dee@example.com", [])
    await world.apply([ann_1, ann_2, bob_2, cid, dee])

    assert world.service.processor.safe_passes == 0  # all of it on the fast pass
    assert world.service.processor.dead_lettered == 0
    emails = await world.rows(
        "SELECT u.user_name, e.position, e.value FROM user_emails e JOIN users u ON u.id = "
        "e.user_id ORDER BY u.user_name, e.position"
    )
    assert [tuple(row) for row in emails] == [
        ("ann@example.com", 0, "a3@example.com"),  # the latest replace only
        ("bob@example.com", 0, "bob@work.example"),
        ("cid@example.com", 0, "cid@example.com"),
        ("cid@example.com", 1, "cid@home.example"),
    ]
    versions = dict(await world.rows("SELECT user_name, version FROM users"))
    assert versions == {
        "ann@example.com": 3,
        "bob@example.com": 2,
        "cid@example.com": 1,
        "dee@example.com": 1,
    }
    # Each reply reports its own step, with the links read once for the batch.
    first, second = await world.reply(ann_1), await world.reply(ann_2)
    assert [e["value"] for e in first["user"]["emails"]] == ["a1@example.com", "a2@example.com"]
    assert (first["user"]["version"], second["user"]["version"]) == (2, 3)
    for reply in (first, second):
        links = reply["user"]["identity_links"]
        assert [(li["issuer"], li["subject"]) for li in links] == [
            ("https://idp.example.com", "sub-1")
        ]
    created = await world.reply(cid)
    assert created["created"] is True and created["user"]["version"] == 1
    # A change and its events: one lifecycle event and one snapshot per applied change.
    outbox_total = world.service.relay.published
    assert outbox_total == 2 * 7  # 7 changes so far, each a lifecycle event and a snapshot


async def test_a_refused_create_sends_the_batch_to_the_safe_pass_and_only_it_fails(
    world: World,
) -> None:
    # Two creates of one userName (another case) in one batch: the second is refused (the
    # first is in the batch's look-ups), which aborts the fast pass; the safe pass creates the
    # first — its deferred row and e-mail rows written — and answers the second with the error.
    tenant = await _tenant(world)
    first = _scim(tenant, "eve@example.com", ["eve@example.com"])
    again = _scim(tenant, "EVE@example.com", ["eve@elsewhere.example"])
    await world.apply([first, again])

    assert world.service.processor.safe_passes >= 1
    assert (await world.reply(first))["created"] is True
    refused = await world.reply(again)
    assert refused["user"] is None and refused["error"]["code"] == "uniqueness"
    assert len(await world.rows("SELECT id FROM users")) == 1
    emails = await world.rows("SELECT value FROM user_emails")
    assert [row.value for row in emails] == ["eve@example.com"]


async def test_a_batch_reads_its_tenants_in_its_batch_wide_statement(world: World) -> None:
    # Two tenants and an id that names none, in one batch: each event is applied under its own
    # tenant, the unknown one dead-lettered, and no statement of the batch looks a tenant up on
    # its own (get_tenant's `id = ... OR slug = ...`): the tenants came with the look-ups.
    one = await _tenant(world)
    async with session_factory(world.engine)() as session, session.begin():
        two = await tenants.create_tenant(session, "fast-two", ProvisioningMode.SCIM)
    ghost = one.model_copy(update={"id": "no-such-tenant"})
    events = [
        _scim(one, "ann@example.com", ["ann@example.com"]),
        _scim(two, "bob@example.com", ["bob@example.com"]),
        _scim(ghost, "cid@example.com", []),
    ]
    with world.statements() as statements:
        await world.bus.send_batch([event_record(world.topics.ingest, e) for e in events])
        processor = world.service.processor
        await world.service.start()
        try:
            async with asyncio.timeout(60):
                while processor.applied + processor.dead_lettered < 3:
                    await asyncio.sleep(0.02)
        finally:
            await world.service.stop()
    assert (processor.applied, processor.dead_lettered) == (2, 1)
    assert processor.dead_letter_kinds == {"unknown_tenant": 1}
    owners = dict(await world.rows("SELECT user_name, tenant_id FROM users"))
    assert owners == {"ann@example.com": one.id, "bob@example.com": two.id}
    assert any("json_object_agg" in s and "FROM tenants" in s for s in statements)
    assert not [s for s in statements if "tenants.slug =" in s], statements


async def test_a_batch_of_logins_ends_as_one_by_one_would(world: World) -> None:
    # One batch of logins on the fast pass: a new person, the same person again (found by the
    # link the batch itself made), a first login joining a SCIM account on a verified key, and a
    # new person with a group. New accounts and links wait for the batch's flush, with the
    # link's foreign key checked at the commit (migration 0010), and each new account's
    # snapshot is built without reading it back.
    tenant = await _tenant(world)
    bob = _scim(tenant, "bob@example.com", ["bob@example.com"])
    await world.apply([bob])
    bob_id = (await world.reply(bob))["user"]["id"]

    ann = login(tenant, "sub-ann", "ann@example.com")
    ann_again = login(tenant, "sub-ann", "ann@example.com")
    bob_login = login(tenant, "sub-bob", "bob@example.com", verified="bob@example.com")
    cid = login(tenant, "sub-cid", "cid@example.com", groups=["eng"])
    await world.apply([ann, ann_again, bob_login, cid])

    assert world.service.processor.safe_passes == 0  # all of it on the fast pass
    assert world.service.processor.dead_lettered == 0
    made, again = await world.reply(ann), await world.reply(ann_again)
    assert made["created"] is True and again["created"] is False
    assert again["user"]["id"] == made["user"]["id"]  # one account per person
    for reply in (made, again):
        assert [(li["issuer"], li["subject"]) for li in reply["user"]["identity_links"]] == [
            ("https://idp.example.com", "sub-ann")
        ]
    assert (await world.reply(bob_login))["user"]["id"] == bob_id
    joined = (await world.reply(cid))["user"]
    assert [g["display"] for g in joined["groups"]] == ["eng"]
    links = dict(
        await world.rows(
            "SELECT l.subject, u.user_name FROM identity_links l JOIN users u ON u.id = l.user_id"
        )
    )
    assert links == {
        "sub-ann": "ann@example.com",
        "sub-bob": "bob@example.com",
        "sub-cid": "cid@example.com",
    }
    assert len(await world.rows("SELECT id FROM users")) == 3


@pytest.mark.parametrize("mode", [ProvisioningMode.JIT, ProvisioningMode.SCIM_JIT])
async def test_a_batch_of_new_logins_inserts_once_per_table(
    world: World, mode: ProvisioningMode
) -> None:
    # Five new people in one batch: their links are read in one statement for the batch, and
    # their accounts and links inserted in one statement per table, not per login. Where SCIM
    # owns the lifecycle, whether a deleted account holds the name (or a verified key's) came
    # with the batch's look-ups too, not from a read per login.
    async with session_factory(world.engine)() as session, session.begin():
        tenant = await tenants.create_tenant(session, "fast-logins", mode)
    events = [
        login(
            tenant,
            f"sub-{i}",
            f"p{i}@example.com",
            verified=[{"value": f"k{i}@example.com", "basis": "saml-nameid:persistent"}],
        )
        for i in range(5)
    ]
    with world.statements() as statements:
        await world.apply(events)
    processor = world.service.processor
    assert (processor.applied, processor.safe_passes, processor.batches) == (5, 0, 1)
    assert len([s for s in statements if "FROM identity_links" in s]) == 1, statements
    assert len([s for s in statements if s.startswith("INSERT INTO users")]) == 1, statements
    assert len([s for s in statements if s.startswith("INSERT INTO identity_links")]) == 1
    assert any(
        s.startswith("SET CONSTRAINTS identity_links_user_id_fkey DEFERRED") for s in statements
    )
    for event in events:
        reply = await world.reply(event)
        assert reply["created"] is True
        assert [li["subject"] for li in reply["user"]["identity_links"]] == [
            event.data.identity_link.subject  # type: ignore[union-attr]
        ]
