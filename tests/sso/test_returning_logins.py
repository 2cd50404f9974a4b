"""A returning user whose attributes did not change is answered from one user-store read, not
from the ingestion round trip (issue 10, "Logins"); the last login is still recorded, any change
still goes through the write path, and a deactivation still refuses the very next login.

What is observed is which of sso-login's two ways to the user-store a login took: the
requester's ``request`` (publish, then wait for the user-store's reply) or its ``send`` (publish
only). Both are counted on the running service's own requester, with the events they carried.
On the in-process bus with SQLite and on Kafka with PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from roster_shared.bus.base import Record
from roster_shared.events.ingest import INGEST_ADAPTER, UserUpserted
from roster_shared.tenants import ProvisioningMode
from sso_login.keys import REQUESTER

from tests.integration.harness import scim_user
from tests.sso.stack import SsoStack, saml_login, wait_until
from tests.sso.test_oidc_login import connect, oidc_login
from tests.sso.test_oidc_login import op_factory as op_factory  # a fixture
from tests.sso.test_saml_login import _configure_saml

ATTRS = {
    "mail": ["ada@example.com"],
    "givenName": ["Ada"],
    "sn": ["Lovelace"],
    "groups": ["engineering", "Admins"],
}


@dataclass
class Ways:
    """The ingestion events sso-login waited on (``awaited``) and only published (``sent``)."""

    awaited: list[UserUpserted] = field(default_factory=list)
    sent: list[UserUpserted] = field(default_factory=list)


def watch(stack: SsoStack) -> Ways:
    assert stack.sso_app is not None
    requester = stack.sso_app[REQUESTER]
    ways = Ways()
    request, send = requester.request, requester.send

    def event(record: Record) -> UserUpserted:
        assert record.value is not None
        decoded = INGEST_ADAPTER.validate_json(record.value)
        assert isinstance(decoded, UserUpserted)
        return decoded

    async def counted_request(record: Record, request_id: str, **kw: Any) -> Any:
        ways.awaited.append(event(record))
        return await request(record, request_id, **kw)

    async def counted_send(record: Record, **kw: Any) -> None:
        ways.sent.append(event(record))
        await send(record, **kw)

    requester.request = counted_request  # type: ignore[method-assign]
    requester.send = counted_send  # type: ignore[method-assign]
    return ways


def _utc(moment: datetime | None) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _session(browser: Any) -> dict[str, Any]:
    me = await browser.get("/sso/session")
    assert me.status == 200
    data: dict[str, Any] = await me.json()
    return data


async def test_a_returning_unchanged_login_skips_the_round_trip_and_changes_take_the_write_path(
    stack: SsoStack,
) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    idp = await _configure_saml(stack, "acme")
    ways = watch(stack)

    # First login: a new user, through the write path.
    browser = stack.browser()
    done = await saml_login(stack, browser, idp, "acme", "ada@example.com", ATTRS)
    assert done.status == 303, await done.text()
    ada = (await _session(browser))["user_id"]
    assert (len(ways.awaited), len(ways.sent)) == (1, 0)
    first = await stack.user(tenant.id, ada)
    assert first.last_login_at is not None
    assert sorted(str(g.display) for g in first.groups) == ["Admins", "engineering"]

    # The same person, nothing changed: answered from the read, no reply awaited; the login's
    # event is still published, and the user-store records the last login from it.
    browser = stack.browser()
    again = await saml_login(stack, browser, idp, "acme", "ada@example.com", ATTRS)
    assert again.status == 303, await again.text()
    assert (await _session(browser))["user_id"] == ada
    assert (len(ways.awaited), len(ways.sent)) == (1, 1)
    recorded = ways.sent[0]
    assert recorded.data.identity_link is not None
    assert recorded.data.identity_link.subject == "ada@example.com"
    assert recorded.data.login_at is not None and recorded.data.login_at > _utc(first.last_login_at)

    async def last_login_recorded() -> bool:
        last = (await stack.user(tenant.id, ada)).last_login_at
        return last is not None and _utc(last) == recorded.data.login_at

    await wait_until(last_login_recorded)
    after = await stack.user(tenant.id, ada)
    assert after.version == first.version  # a last login is not a canonical change

    # A changed attribute: the write path, and applied.
    changed = {**ATTRS, "sn": ["King"]}
    assert (
        await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", changed)
    ).status == 303
    assert (len(ways.awaited), len(ways.sent)) == (2, 1)
    assert (await stack.user(tenant.id, ada)).family_name == "King"

    # Changed groups (one dropped, the same names otherwise): the write path, and applied.
    regrouped = {**changed, "groups": ["engineering"]}
    assert (
        await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", regrouped)
    ).status == 303
    assert (len(ways.awaited), len(ways.sent)) == (3, 1)
    assert [g.display for g in (await stack.user(tenant.id, ada)).groups] == ["engineering"]

    # Unchanged again (group names compared as the user-store compares them): the read.
    same = {**regrouped, "groups": ["ENGINEERING"]}
    assert (
        await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", same)
    ).status == 303
    assert (len(ways.awaited), len(ways.sent)) == (3, 2)


async def test_a_user_deactivated_by_scim_is_refused_on_the_very_next_login(
    stack: SsoStack,
) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    idp = await _configure_saml(stack, "acme")
    ways = watch(stack)
    browser = stack.browser()
    assert (await saml_login(stack, browser, idp, "acme", "ada@example.com", ATTRS)).status == 303
    ada = (await _session(browser))["user_id"]
    reply = await stack.send(scim_user(tenant, "ada@example.com", external_id="okta-1"))
    assert reply.ok and reply.user is not None and reply.user.id == ada
    # Adopted by SCIM, which sent no names: the next login fills them in (a write), and the one
    # after it changes nothing (the read).
    for _ in range(2):
        assert (
            await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", ATTRS)
        ).status == 303
    assert (len(ways.awaited), len(ways.sent)) == (2, 1)
    assert (await stack.user(tenant.id, ada)).given_name == "Ada"

    reply = await stack.send(
        scim_user(tenant, "ada@example.com", external_id="okta-1", active=False, target_id=ada)
    )
    assert reply.ok and reply.user is not None and not reply.user.active
    # The very next login, with no wait: the read sees the deactivation, so the login takes the
    # write path, which refuses it.
    refused = await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", ATTRS)
    assert refused.status == 403
    reason = stack.refusals.reason(await refused.text())
    assert reason == "this account is deactivated"
    assert (len(ways.awaited), len(ways.sent)) == (3, 1)


async def test_a_subject_linked_to_another_user_is_still_refused(
    stack: SsoStack, op_factory: Any
) -> None:
    """nOAuth after the victim's returning logins: the attacker's subject has no link, so the
    read does not answer it, and the write path refuses it as before."""
    tenant = await stack.tenant("acme", ProvisioningMode.JIT)
    op = op_factory(stack, "acme")
    await connect(stack, op, "acme")
    ways = watch(stack)
    op.account("u-carol", email="carol@example.com", email_verified=True, family_name="Jones")
    victim = stack.browser()
    assert (await oidc_login(victim, "acme", "u-carol")).status == 303
    carol = (await _session(victim))["user_id"]
    assert (await oidc_login(stack.browser(), "acme", "u-carol")).status == 303
    assert (len(ways.awaited), len(ways.sent)) == (1, 1)

    op.account("u-mallory", email="Carol@Example.com", email_verified=True, family_name="Evil")
    attacker = stack.browser()
    refused = await oidc_login(attacker, "acme", "u-mallory")
    assert refused.status == 403
    assert "already linked to another subject" in stack.refusals.reason(await refused.text())
    assert (len(ways.awaited), len(ways.sent)) == (2, 1)
    assert (await attacker.get("/sso/session")).status == 401
    user = await stack.user(tenant.id, carol)
    assert user.family_name == "Jones" and [li.subject for li in user.identity_links] == ["u-carol"]
