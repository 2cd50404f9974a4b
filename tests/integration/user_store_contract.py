"""The user-store's contract, run on every bus x database pairing by subclassing.

Subclasses set ``bus_kind`` ("memory" | "kafka") and ``db_kind`` ("sqlite" | "postgres").
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from roster_shared.bus.base import Message
from roster_shared.events import ingest
from roster_shared.events.codec import event_record
from roster_shared.events.envelope import Source
from roster_shared.events.replies import ErrorCode
from roster_shared.filters import EXPR_ADAPTER, ListQuery
from roster_shared.tenants import ProvisioningMode, TenantPolicy
from sqlalchemy import func, select
from user_store import queries, tenants
from user_store.cursors import Cursors
from user_store.errors import InvalidFilter
from user_store.tables import OutboxRow, ProcessedEventRow, UserRow

from tests.integration.harness import PairingSuite, Stack, login, scim_user

CURSORS = Cursors(b"contract tests' cursor key")


class UserStoreContract(PairingSuite):
    async def _eventually(
        self, value: Callable[[], Awaitable[Any]], expected: Any, what: str, timeout: float = 20
    ) -> None:
        """Wait until ``value()`` is ``expected`` (a condition that must come about)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (last := await value()) != expected:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {last!r}")
            await asyncio.sleep(0.05)

    async def _count(self, stack: Stack, model: Any, *conditions: Any) -> int:
        async with stack.sessions() as session:
            return int(
                (
                    await session.execute(
                        select(func.count()).select_from(model).where(*conditions)
                    )
                ).scalar_one()
            )

    # -- the path end to end -------------------------------------------------------------

    async def test_upsert_becomes_row_reply_and_lifecycle_event(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        users = await stack.collect(stack.topics.users)
        event = scim_user(
            tenant,
            "Ada@Example.com",
            "ext-ada",
            given_name="Ada",
            emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
        )
        reply = await stack.send(event)
        assert reply.ok and reply.created
        assert reply.user is not None and reply.user.user_name == "Ada@Example.com"
        async with stack.sessions() as session:
            row = await session.get(UserRow, reply.user.id)
        assert row is not None and row.external_id == "ext-ada" and row.given_name == "Ada"
        assert row.tenant_id == tenant.id and row.scim_managed and row.version == 1
        await lifecycle.wait_for(lambda c: len(c.events("user.created")) == 1)
        created = lifecycle.events("user.created")[0]
        assert created["data"]["user"]["id"] == reply.user.id
        assert created["tenant_id"] == tenant.id and created["source"] == "scim"
        assert created["data"]["caused_by"] == event.event_id
        await users.wait_for(lambda c: len(c.messages) == 1)
        assert users.messages[0].key == f"{tenant.id}:{reply.user.id}"

    # -- identity resolution ---------------------------------------------------------------

    async def test_scim_create_adopts_jit_user_ignoring_case(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        jit = await stack.send(
            login(
                tenant,
                "00u1",
                "Grace.Hopper@Example.COM",
                emails=[{"value": "grace.hopper@example.com"}],
            )
        )
        assert jit.ok and jit.created and jit.user is not None
        assert jit.user.origin == "jit" and not jit.user.scim_managed

        adopted = await stack.send(scim_user(tenant, "grace.hopper@example.com", "ext-grace"))
        assert adopted.ok and adopted.user is not None
        assert adopted.user.id == jit.user.id
        assert adopted.user.external_id == "ext-grace" and adopted.user.scim_managed
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1
        await lifecycle.wait_for(lambda c: len(c.events("user.updated")) == 1)
        assert "scim_managed" in lifecycle.events("user.updated")[0]["data"]["changed"]
        assert len(lifecycle.events("user.created")) == 1

        # The person logs in again: still the same single account.
        again = await stack.send(login(tenant, "00u1", "grace.hopper@example.com"))
        assert again.ok and again.user is not None and again.user.id == jit.user.id

    async def test_username_clash_between_external_ids_is_uniqueness(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        first = await stack.send(scim_user(tenant, "bob@example.com", "ext-1"))
        assert first.ok and first.user is not None
        clash = await stack.send(scim_user(tenant, "BOB@example.com", "ext-2"))
        assert clash.error is not None and clash.error.code is ErrorCode.UNIQUENESS
        assert clash.error.existing_id == first.user.id
        retried = await stack.send(scim_user(tenant, "bob@example.com", "ext-1"))
        assert retried.error is not None and retried.error.code is ErrorCode.UNIQUENESS
        assert retried.error.existing_id == first.user.id
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1

    async def test_rename_keeps_the_id(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        created = await stack.send(scim_user(tenant, "carol@example.com", "ext-carol"))
        assert created.user is not None
        renamed = await stack.send(
            scim_user(
                tenant,
                "carol.new@example.com",
                "ext-carol",
                target_id=created.user.id,
                expected_version=created.user.version,
            )
        )
        assert renamed.ok and renamed.user is not None
        assert renamed.user.id == created.user.id
        assert renamed.user.user_name == "carol.new@example.com"
        assert renamed.user.version == created.user.version + 1
        # A stale If-Match is refused and changes nothing.
        stale = await stack.send(
            scim_user(
                tenant,
                "carol.x@example.com",
                "ext-carol",
                target_id=created.user.id,
                expected_version=created.user.version,
            )
        )
        assert stale.error is not None and stale.error.code is ErrorCode.PRECONDITION_FAILED

        # A rename at the IdP seen through login: same subject, new userName, same account.
        jit = await stack.send(login(tenant, "sub-dave", "dave@example.com"))
        moved = await stack.send(
            login(tenant, "sub-dave", "dave.smith@example.com", family_name="Smith")
        )
        assert jit.user is not None and moved.user is not None
        assert moved.user.id == jit.user.id and moved.user.user_name == "dave.smith@example.com"
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 2

    @pytest.mark.parametrize("mode", [ProvisioningMode.SCIM, ProvisioningMode.SCIM_JIT])
    async def test_login_never_reactivates_what_scim_deactivated(
        self, stack: Stack, mode: ProvisioningMode
    ) -> None:
        tenant = await stack.tenant(mode=mode)
        created = await stack.send(scim_user(tenant, "erin@example.com", "ext-erin"))
        assert created.user is not None
        off = await stack.send(
            scim_user(
                tenant, "erin@example.com", "ext-erin", active=False, target_id=created.user.id
            )
        )
        assert off.user is not None and not off.user.active
        refused = await stack.send(
            login(tenant, "sub-erin", "erin@example.com", verified="erin@example.com")
        )
        assert refused.error is not None and refused.error.code is ErrorCode.DEACTIVATED
        async with stack.sessions() as session:
            row = await session.get(UserRow, created.user.id)
        assert row is not None and not row.active and row.last_login_at is None

        deleted = await stack.send(
            ingest.UserDeleted(
                tenant_id=tenant.id, source=Source.SCIM, data={"user_id": created.user.id}
            )
        )
        assert deleted.ok
        again = await stack.send(
            login(tenant, "sub-erin", "erin@example.com", verified="erin@example.com")
        )
        assert again.error is not None and again.error.code is ErrorCode.DEACTIVATED
        # Without a verified key too: a login never re-makes someone SCIM deleted.
        unkeyed = await stack.send(login(tenant, "sub-erin-2", "erin@example.com"))
        assert unkeyed.error is not None and unkeyed.error.code is ErrorCode.DEACTIVATED
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1

    async def test_scim_mode_refuses_unknown_logins_jit_mode_creates(self, stack: Stack) -> None:
        scim_only = await stack.tenant("scim-only", ProvisioningMode.SCIM)
        refused = await stack.send(login(scim_only, "sub-f", "frank@example.com"))
        assert refused.error is not None and refused.error.code is ErrorCode.NOT_PROVISIONED
        jit_only = await stack.send(
            login(
                await stack.tenant("jit-only", ProvisioningMode.JIT), "sub-f", "frank@example.com"
            )
        )
        assert jit_only.ok and jit_only.created

    async def test_same_email_in_two_tenants_is_two_users(self, stack: Stack) -> None:
        one, two = await stack.tenant("one"), await stack.tenant("two")
        a = await stack.send(login(one, "s", "gina@example.com"))
        b = await stack.send(login(two, "s", "gina@example.com"))
        assert a.user is not None and b.user is not None and a.user.id != b.user.id

    async def test_email_linking_only_when_the_tenant_allows_it(self, stack: Stack) -> None:
        tenant = await stack.tenant(policy=TenantPolicy(allow_email_linking=True))
        scim = await stack.send(
            scim_user(tenant, "E12345", "ext-h", emails=[{"value": "hank@example.com"}])
        )
        # An e-mail the IdP did not verify is a free attribute: it never links (nOAuth).
        unverified = await stack.send(
            login(tenant, "sub-h", "hank@example.com", emails=[{"value": "Hank@Example.com"}])
        )
        assert unverified.ok and unverified.created and unverified.user is not None
        assert scim.user is not None and unverified.user.id != scim.user.id
        # The verified address now names the login-made account, which is linked to another
        # subject of this IdP: refused, never relinked; and not linked to SCIM's account by
        # e-mail either, which two accounts now hold.
        ambiguous = await stack.send(
            login(
                tenant,
                "sub-h2",
                "hank.2@example.com",
                emails=[{"value": "Hank@Example.com"}],
                verified="Hank@Example.com",
            )
        )
        assert ambiguous.error is not None and ambiguous.error.code is ErrorCode.LINK_REFUSED
        assert ambiguous.error.existing_id == unverified.user.id
        tenant = await stack.tenant("linking", policy=TenantPolicy(allow_email_linking=True))
        scim = await stack.send(
            scim_user(tenant, "E12345", "ext-h", emails=[{"value": "hank@example.com"}])
        )
        linked = await stack.send(
            login(
                tenant,
                "sub-h",
                "hank@example.com",
                emails=[{"value": "Hank@Example.com"}],
                verified="Hank@Example.com",
            )
        )
        assert scim.user is not None and linked.user is not None
        assert linked.user.id == scim.user.id
        other = await stack.tenant("strict")
        await stack.send(
            scim_user(other, "E12345", "ext-h", emails=[{"value": "hank@example.com"}])
        )
        separate = await stack.send(
            login(
                other,
                "sub-h",
                "hank@example.com",
                emails=[{"value": "hank@example.com"}],
                verified="hank@example.com",
            )
        )
        assert separate.ok and separate.created

    # -- linking a login to an account (docs/design.md identity rule 2 and decision table) ---

    async def _row(self, stack: Stack, user_id: str) -> UserRow:
        async with stack.sessions() as session:
            row = await session.get(UserRow, user_id)
        assert row is not None
        return row

    async def test_login_never_takes_over_an_account_linked_to_another_subject(
        self, stack: Stack
    ) -> None:
        """nOAuth: the attacker's own IdP account says the victim's name and address, even
        "verified"; the victim's account stays theirs and unchanged."""
        tenant = await stack.tenant(policy=TenantPolicy(allow_email_linking=True))
        victim = await stack.send(
            login(tenant, "sub-carol", "carol@example.com", emails=[{"value": "carol@example.com"}])
        )
        assert victim.user is not None
        before = await self._row(stack, victim.user.id)
        attack = await stack.send(
            login(
                tenant,
                "sub-mallory",
                "Carol@Example.com",
                display_name="Mallory",
                emails=[{"value": "carol@example.com"}],
                verified="carol@example.com",
            )
        )
        assert attack.error is not None and attack.error.code is ErrorCode.LINK_REFUSED
        assert "already linked to another subject" in attack.error.detail
        assert attack.error.existing_id == victim.user.id
        after = await self._row(stack, victim.user.id)
        assert (after.user_name, after.display_name, after.emails, after.version) == (
            before.user_name,
            before.display_name,
            before.emails,
            before.version,
        )
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1

    @pytest.mark.parametrize(
        "mode", [ProvisioningMode.SCIM, ProvisioningMode.SCIM_JIT, ProvisioningMode.JIT]
    )
    async def test_a_free_attribute_never_links(self, stack: Stack, mode: ProvisioningMode) -> None:
        """A userName the login merely claims names an account: refused, not linked."""
        tenant = await stack.tenant(mode=ProvisioningMode.SCIM_JIT)
        made = await stack.send(scim_user(tenant, "dan@example.com", "ext-dan"))
        assert made.user is not None
        async with stack.sessions() as session, session.begin():
            await tenants.update_tenant(session, tenant.id, mode=mode)
        attack = await stack.send(login(tenant, "sub-x", "DAN@example.com"))
        assert attack.error is not None and attack.error.code is ErrorCode.LINK_REFUSED
        assert "carries no verified key" in attack.error.detail
        row = await self._row(stack, made.user.id)
        assert row.user_name == "dan@example.com" and row.last_login_at is None

    async def test_a_compatibility_folded_lookalike_never_links(self, stack: Stack) -> None:
        """Fullwidth letters fold to ASCII under NFKC; a verified fullwidth address is another
        address and must not reach the ASCII account (nor make a second account by that name)."""
        tenant = await stack.tenant()
        made = await stack.send(scim_user(tenant, "charlie@example.com", "ext-charlie"))
        assert made.user is not None
        fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "CHARLIE") + "@example.com"
        attack = await stack.send(login(tenant, "sub-c", fullwidth, verified=fullwidth))
        assert attack.error is not None and attack.error.code is ErrorCode.LINK_REFUSED
        assert "carries no verified key" in attack.error.detail
        row = await self._row(stack, made.user.id)
        assert row.user_name == "charlie@example.com" and row.last_login_at is None

    async def test_a_verified_key_links_once_and_never_rewrites_scims_attributes(
        self, stack: Stack
    ) -> None:
        tenant = await stack.tenant()
        made = await stack.send(
            scim_user(
                tenant,
                "erik@example.com",
                "ext-erik",
                emails=[{"value": "erik@example.com", "type": "work"}],
            )
        )
        assert made.user is not None
        first = await stack.send(
            login(
                tenant,
                "sub-erik",
                "Erik@Example.com",
                given_name="Erik",
                emails=[{"value": "erik.personal@example.com"}],
                verified="Erik@Example.com",
            )
        )
        assert first.ok and first.user is not None and first.user.id == made.user.id
        assert first.user.user_name == "erik@example.com"
        assert [e.value for e in first.user.emails] == ["erik@example.com"]
        assert first.user.given_name == "Erik"  # SCIM left it empty: filled in
        assert [(li.issuer, li.subject) for li in first.user.identity_links] == [
            ("https://idp.example.com", "sub-erik")
        ]
        # Later logins come by the link, with no key at all, and still change nothing of SCIM's.
        later = await stack.send(login(tenant, "sub-erik", "erik.renamed@example.com"))
        assert later.ok and later.user is not None and later.user.id == made.user.id
        assert later.user.user_name == "erik@example.com"

    async def test_jit_mode_changes_identity_attributes_only_through_the_own_link(
        self, stack: Stack
    ) -> None:
        tenant = await stack.tenant(mode=ProvisioningMode.JIT)
        own = await stack.send(login(tenant, "sub-fay", "fay@example.com"))
        renamed = await stack.send(login(tenant, "sub-fay", "fay.new@example.com"))
        assert own.user is not None and renamed.user is not None
        assert renamed.user.id == own.user.id and renamed.user.user_name == "fay.new@example.com"
        # A second connection (another issuer) may join on a verified key, but only fills in.
        joined = await stack.send(
            login(
                tenant,
                "oid-fay",
                "fay.other@example.com",
                issuer="https://login.example.net",
                display_name="Fay",
                verified="fay.new@example.com",
            )
        )
        assert joined.ok and joined.user is not None and joined.user.id == own.user.id
        assert joined.user.user_name == "fay.new@example.com" and joined.user.display_name == "Fay"

    async def test_an_admin_mapping_links_on_external_id(self, stack: Stack) -> None:
        """Okta: the OIDC ``sub`` is the Okta user id its SCIM client sends as externalId."""
        tenant = await stack.tenant()
        made = await stack.send(scim_user(tenant, "gil@example.com", "00u1gil"))
        assert made.user is not None
        key = {"value": "00u1gil", "match": "external_id", "basis": "mapping:subject"}
        wrong = await stack.send(
            login(tenant, "00u1gil-x", "gil@example.com", verified=[{**key, "value": "00U1GIL"}])
        )
        assert wrong.error is not None and wrong.error.code is ErrorCode.LINK_REFUSED
        linked = await stack.send(login(tenant, "00u1gil", "gil@example.com", verified=[key]))
        assert linked.ok and linked.user is not None and linked.user.id == made.user.id

    # -- groups ----------------------------------------------------------------------------

    async def test_groups_and_memberships(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        u1 = (await stack.send(scim_user(tenant, "u1@example.com", "e1"))).user
        u2 = (await stack.send(scim_user(tenant, "u2@example.com", "e2"))).user
        assert u1 is not None and u2 is not None
        group = await stack.send(
            ingest.GroupUpserted(
                tenant_id=tenant.id,
                source=Source.SCIM,
                data={"display_name": "Engineering", "member_ids": [u1.id]},
            )
        )
        assert group.ok and group.group is not None
        assert [m.id for m in group.group.members] == [u1.id]
        changed = await stack.send(
            ingest.GroupMembersChanged(
                tenant_id=tenant.id,
                source=Source.SCIM,
                data={"group_id": group.group.id, "add": [u2.id], "remove": [u1.id]},
            )
        )
        assert changed.group is not None and [m.id for m in changed.group.members] == [u2.id]
        bad = await stack.send(
            ingest.GroupMembersChanged(
                tenant_id=tenant.id,
                source=Source.SCIM,
                data={"group_id": group.group.id, "add": ["no-such-user"]},
            )
        )
        assert bad.error is not None and bad.error.code is ErrorCode.INVALID
        dup = await stack.send(
            ingest.GroupUpserted(
                tenant_id=tenant.id, source=Source.SCIM, data={"display_name": "engineering"}
            )
        )
        assert dup.error is not None and dup.error.code is ErrorCode.UNIQUENESS
        await stack.send(
            ingest.UserDeleted(tenant_id=tenant.id, source=Source.SCIM, data={"user_id": u2.id})
        )
        async with stack.sessions() as session:
            after = await queries.get_group(session, tenant.id, group.group.id)
        assert after.members == ()
        await lifecycle.wait_for(lambda c: len(c.events("membership.removed")) == 2)
        assert len(lifecycle.events("membership.added")) == 2

    async def test_nested_groups_on_the_lifecycle_topic(self, stack: Stack) -> None:
        """A group in a group: the parent's group.* event says so (``member_groups``); no
        membership.* event (those are about users); no cycles; deleting the nested group
        updates its parent."""
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        user = (await stack.send(scim_user(tenant, "n1@example.com", "n1"))).user
        assert user is not None

        async def group(name: str, *members: str) -> Any:
            reply = await stack.send(
                ingest.GroupUpserted(
                    tenant_id=tenant.id,
                    source=Source.SCIM,
                    data={"display_name": name, "member_ids": list(members)},
                )
            )
            assert reply.ok and reply.group is not None, reply
            return reply.group

        inner = await group("Inner", user.id)
        outer = await group("Outer", inner.id)
        assert outer.members == () and [g.id for g in outer.member_groups] == [inner.id]
        assert outer.member_groups[0].display == "Inner"
        cycle = await stack.send(
            ingest.GroupMembersChanged(
                tenant_id=tenant.id,
                source=Source.SCIM,
                data={"group_id": inner.id, "add": [outer.id]},
            )
        )
        assert cycle.error is not None and cycle.error.code is ErrorCode.INVALID
        assert "contain itself" in cycle.error.detail
        await stack.send(
            ingest.GroupDeleted(
                tenant_id=tenant.id, source=Source.SCIM, data={"group_id": inner.id}
            )
        )
        await lifecycle.wait_for(
            lambda c: any(e["data"]["group"]["id"] == outer.id for e in c.events("group.updated"))
        )
        created = [
            e for e in lifecycle.events("group.created") if e["data"]["group"]["id"] == outer.id
        ]
        assert "member_groups" in created[0]["data"]["changed"]
        assert [g["id"] for g in created[0]["data"]["group"]["member_groups"]] == [inner.id]
        (updated,) = [
            e for e in lifecycle.events("group.updated") if e["data"]["group"]["id"] == outer.id
        ]
        assert updated["data"]["changed"] == ["member_groups"]
        assert updated["data"]["group"]["member_groups"] == []
        assert updated["data"]["group"]["version"] == outer.version + 1
        assert [e["data"]["user_id"] for e in lifecycle.events("membership.added")] == [user.id]

    # -- idempotence -----------------------------------------------------------------------

    async def test_same_event_three_times_one_effect(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        replies = await stack.collect(stack.topics.replies)
        event = scim_user(tenant, "ivy@example.com", "ext-ivy")
        record_value = event.model_dump_json().encode()
        for _ in range(3):
            await stack.send_raw(tenant.id, record_value)
        await replies.wait_for(lambda c: len(c.messages) == 3)
        bodies = [json.loads(m.value) for m in replies.messages if m.value]
        assert {b["request_id"] for b in bodies} == {event.event_id}
        assert len({b["user"]["id"] for b in bodies}) == 1
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1
        assert (
            await self._count(
                stack, ProcessedEventRow, ProcessedEventRow.event_id == event.event_id
            )
            == 1
        )
        await lifecycle.wait_for(lambda c: len(c.events("user.created")) >= 1)
        marker = await stack.marker(tenant, lifecycle)
        created = [e for e in lifecycle.events("user.created") if e["data"]["user"]["id"] != marker]
        assert len({e["event_id"] for e in created}) == 1

    async def test_crash_between_db_commit_and_offset_commit(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        lifecycle = await stack.collect(stack.topics.lifecycle)
        await stack.services[0].stop()  # replace the running instance by a crashing one

        crashing = stack.new_service()
        real_handler = crashing.processor
        crashed = asyncio.Event()

        class Crash(Exception):
            pass

        async def commit_then_die(messages: Sequence[Message]) -> None:
            if crashed.is_set():
                raise Crash("this instance is dead; it never commits again")
            await real_handler(messages)  # the database transaction commits here
            crashed.set()
            raise Crash("killed before the offset commit")

        crashing.processor = commit_then_die  # type: ignore[assignment]
        await crashing.start()
        event = scim_user(tenant, "jack@example.com", "ext-jack")
        await stack.send_raw(tenant.id, event.model_dump_json().encode())
        await asyncio.wait_for(crashed.wait(), 30)
        await crashing.stop()  # leaves without committing the offset of the failed batch

        successor = stack.new_service()
        await successor.start()
        # The successor gets the same event again; it must change nothing.
        deadline = asyncio.get_running_loop().time() + 30
        while successor.processor.redelivered == 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert successor.processor.redelivered == 1, "the uncommitted batch was not redelivered"
        assert successor.processor.applied == 0
        await lifecycle.wait_for(lambda c: len(c.events("user.created")) >= 1)
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 1
        marker = await stack.marker(tenant, lifecycle)
        created = [e for e in lifecycle.events("user.created") if e["data"]["user"]["id"] != marker]
        assert len({e["event_id"] for e in created}) == 1
        # The relay deletes what it published once the bus took it; the marker's own rows may
        # still be on their way out, and then nothing is left.
        await self._eventually(lambda: self._count(stack, OutboxRow), 0, "an empty outbox")

    # -- bad input -------------------------------------------------------------------------

    async def test_bad_input_goes_to_dlq_without_stalling(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        dlq = await stack.collect(stack.topics.dlq)
        await stack.send_raw(tenant.id, b"\xff not json")
        invalid = {
            "event_id": str(uuid.uuid4()),
            "type": "user.upserted",
            "tenant_id": tenant.id,
            "source": "scim",
            "data": {"attributes": {"user_name": ""}},
        }
        await stack.send_raw(tenant.id, json.dumps(invalid).encode())
        unknown = await stack.send(
            scim_user(tenant.model_copy(update={"id": "no-such-tenant"}), "x@example.com")
        )
        assert unknown.error is not None and unknown.error.code is ErrorCode.UNKNOWN_TENANT
        # Same key, after the poison: still processed.
        fine = await stack.send(scim_user(tenant, "kim@example.com", "ext-kim"))
        assert fine.ok
        await dlq.wait_for(lambda c: len(c.messages) == 3)
        reasons = [json.loads(m.value)["reason"] for m in dlq.messages if m.value]
        assert any("invalid event" in r for r in reasons)
        assert any("user_name" in r for r in reasons)
        assert any("no tenant" in r for r in reasons)
        assert all(m.header("reason") for m in dlq.messages)

    # -- reads -----------------------------------------------------------------------------

    async def test_filtered_sorted_paged_reads(self, stack: Stack) -> None:
        tenant = await stack.tenant()
        names = ["anna", "Bert", "carl", "dora", "emil", "50%_off"]
        for i, name in enumerate(names):
            reply = await stack.send(
                scim_user(
                    tenant,
                    f"{name}@example.com",
                    f"ext-{i}",
                    emails=[
                        {"value": f"{name}@corp.example.com", "type": "work"},
                        {"value": f"{name}@home.example.com", "type": "home"},
                    ],
                    active=i % 2 == 0,
                )
            )
            assert reply.ok, reply.error

        async def find(expr: dict[str, Any] | None, **kw: Any) -> list[str]:
            query = ListQuery(filter=EXPR_ADAPTER.validate_python(expr) if expr else None, **kw)
            async with stack.sessions() as session:
                _total, items, _cursor = await queries.list_users(
                    session, tenant.id, query, cursors=CURSORS
                )
            return [u.user_name for u in items]

        assert await find(
            {"kind": "compare", "attr": "USERNAME", "op": "eq", "value": "BERT@example.com"}
        ) == ["Bert@example.com"]
        assert await find({"kind": "compare", "attr": "userName", "op": "co", "value": "%_"}) == [
            "50%_off@example.com"
        ]
        assert await find({"kind": "compare", "attr": "userName", "op": "co", "value": "_"}) == [
            "50%_off@example.com"
        ]
        work = {
            "kind": "has",
            "attr": "emails",
            "where": {
                "kind": "and",
                "items": [
                    {"kind": "compare", "attr": "type", "op": "eq", "value": "work"},
                    {"kind": "compare", "attr": "value", "op": "sw", "value": "dora@"},
                ],
            },
        }
        assert await find(work) == ["dora@example.com"]
        assert await find(
            {"kind": "compare", "attr": "active", "op": "eq", "value": False}, sort_by="userName"
        ) == ["Bert@example.com", "dora@example.com", "50%_off@example.com"][0:0] + sorted(
            ["Bert@example.com", "dora@example.com", "50%_off@example.com"], key=str.casefold
        )
        everyone = await find(None, sort_by="userName", descending=True)
        assert everyone == sorted(
            (f"{n}@example.com" for n in names), key=str.casefold, reverse=True
        )
        page = await find(None, sort_by="userName", start_index=2, count=2)
        assert page == sorted((f"{n}@example.com" for n in names), key=str.casefold)[1:3]

        # Cursor paging walks everyone exactly once.
        seen: list[str] = []
        cursor = None
        while True:
            async with stack.sessions() as session:
                _t, items, cursor = await queries.list_users(
                    session, tenant.id, ListQuery(count=4, cursor=cursor), cursors=CURSORS
                )
            seen += [u.user_name for u in items]
            if cursor is None:
                break
        assert sorted(seen) == sorted(f"{n}@example.com" for n in names)
        with pytest.raises(InvalidFilter):
            await find({"kind": "compare", "attr": "shoeSize", "op": "eq", "value": "9"})

    async def test_housekeeping_prunes_only_old_idempotence_records(self, stack: Stack) -> None:
        from datetime import timedelta

        from roster_shared.events.envelope import utcnow
        from user_store.housekeeping import prune_processed

        tenant = await stack.tenant()
        event = scim_user(tenant, "lena@example.com", "ext-lena")
        assert (await stack.send(event)).ok
        assert await prune_processed(stack.sessions, utcnow() - timedelta(days=1)) == 0
        assert await self._count(stack, ProcessedEventRow) == 1
        assert await prune_processed(stack.sessions, utcnow() + timedelta(seconds=1)) == 1
        assert await self._count(stack, ProcessedEventRow) == 0

    async def test_one_batch_mixing_creates_logins_and_conflicts(self, stack: Stack) -> None:
        """Many events in one batch: creates, a duplicate, an adoption, a rename and a login
        that links by e-mail to an account made earlier in the same batch."""
        tenant = await stack.tenant(policy=TenantPolicy(allow_email_linking=True))
        replies = await stack.collect(stack.topics.replies)
        events = [
            scim_user(
                tenant,
                f"p{i}@example.com",
                f"ext-p{i}",
                emails=[{"value": f"p{i}@example.com", "type": "work"}],
            )
            for i in range(20)
        ]
        events.append(scim_user(tenant, "P3@example.com", "ext-other"))  # clash with p3
        jit = login(tenant, "sub-q", "q@example.com")
        events.append(jit)
        events.append(scim_user(tenant, "Q@example.com", "ext-q"))  # adopts the login's account
        events.append(
            login(
                tenant,
                "sub-p7",
                "someone-else",
                emails=[{"value": "P7@example.com"}],
                verified="P7@example.com",
            )
        )
        # One send of them all, so that the consumer sees them in one batch.
        await stack.bus.send_batch([event_record(stack.topics.ingest, e) for e in events])
        await replies.wait_for(lambda c: len(c.messages) == len(events))
        by_request = {
            json.loads(m.value)["request_id"]: json.loads(m.value)
            for m in replies.messages
            if m.value
        }
        assert by_request[events[20].event_id]["error"]["code"] == "uniqueness"
        adopted = by_request[events[22].event_id]["user"]
        assert adopted["id"] == by_request[jit.event_id]["user"]["id"]
        assert (
            by_request[events[23].event_id]["user"]["id"]
            == by_request[events[7].event_id]["user"]["id"]
        )
        assert await self._count(stack, UserRow, UserRow.tenant_id == tenant.id) == 21
        async with stack.sessions() as session:
            _t, found, _c = await queries.list_users(
                session,
                tenant.id,
                ListQuery(
                    filter=EXPR_ADAPTER.validate_python(
                        {
                            "kind": "compare",
                            "attr": "emails.value",
                            "op": "eq",
                            "value": "p12@example.com",
                        }
                    )
                ),
                cursors=CURSORS,
            )
        assert [u.user_name for u in found] == ["p12@example.com"]

    async def test_scim_tokens_hashed_per_tenant_and_revocable(self, stack: Stack) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession
        from user_store import hot_reads
        from user_store import tenants as tenant_admin
        from user_store.tables import ScimTokenRow

        async def verify(session: AsyncSession, ref: str, token: str) -> Any:
            # The one-statement check (tokens/verify, asked before every SCIM write) answers
            # what the ORM's does, in every case below, in a session and on a bare connection.
            answer = await tenant_admin.verify_token(session, ref, token)
            assert await hot_reads.verified_tenant(session, ref, token) == answer
            connection = await session.connection()
            assert await hot_reads.verified_tenant(connection, ref, token) == answer
            return answer

        acme, beta = await stack.tenant("acme"), await stack.tenant("beta")
        async with stack.sessions() as session, session.begin():
            first = await tenant_admin.issue_token(session, "acme", label="okta")
            second = await tenant_admin.issue_token(session, "acme", label="rotation")
        secret = first.token.rsplit("_", 1)[1]
        async with stack.sessions() as session:
            stored = (await session.execute(select(ScimTokenRow))).scalars().all()
            assert all(secret not in row.secret_sha256 for row in stored)
            verified = await verify(session, "acme", first.token)
            assert verified is not None and verified.id == acme.id
            assert await verify(session, acme.id, second.token) is not None
            # Another tenant's URL with acme's token: refused, whatever the path says.
            assert await verify(session, "beta", first.token) is None
            assert beta.id != acme.id
            assert await verify(session, "acme", first.token + "x") is None
            assert await verify(session, "acme", "Bearer nonsense") is None
            assert await verify(session, "nope", first.token) is None
        async with stack.sessions() as session, session.begin():
            await tenant_admin.revoke_token(session, "acme", first.id)
        async with stack.sessions() as session:
            assert await verify(session, "acme", first.token) is None
            assert await verify(session, "acme", second.token) is not None
