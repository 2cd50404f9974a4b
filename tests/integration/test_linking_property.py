"""Property: a login whose (issuer, subject) differs from an account's link for that connection
never yields that account, whatever it claims (docs/design.md identity rule 2, issue 8 finding 1).

Hypothesis builds a victim account linked to ``(ISSUER, victim subject)`` — made by SCIM or by a
login, with e-mails and an externalId — and then sends logins from the same IdP connection with
other subjects that claim look-alikes of everything the victim has: the userName in other cases,
in fullwidth letters or padded with spaces; the victim's e-mails; link keys that name the
victim's userName, e-mail or externalId, marked verified or not; in every provisioning mode, with
e-mail linking on or off. Each login must be refused or land in another account, and the
victim's identity attributes must stay as they were. Runs on the embedded pairing and on
Kafka + PostgreSQL through the real bus and consumer.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roster_shared.tenants import ProvisioningMode, TenantPolicy
from user_store import tenants
from user_store.tables import UserRow

from tests.integration.harness import PairingSuite, Stack, login, scim_user

# Hundreds of logins through the bus and the consumer per run: out of the fast loop.
pytestmark = pytest.mark.slow

ISSUER = "https://idp.example.com"
VICTIM = "victim.person@example.com"
VICTIM_EXTERNAL = "00uVICTIM"
VICTIM_EMAILS = ["victim.person@example.com", "v.person@example.org"]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _variants(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [
            value,
            value.upper(),
            value.title(),
            f" {value} ",
            _fullwidth(value),
            _fullwidth(value.upper()),
            value.replace("e", "\u0435"),  # Cyrillic e
        ]
    )


CLAIMED = st.one_of(_variants(VICTIM), *(_variants(e) for e in VICTIM_EMAILS))
KEYS = st.lists(
    st.fixed_dictionaries(
        {
            "value": st.one_of(CLAIMED, _variants(VICTIM_EXTERNAL)),
            "match": st.sampled_from(["user_name", "external_id"]),
            "verified_email": st.booleans(),
            "basis": st.sampled_from(["oidc:email_verified", "saml-nameid:email", "mapping:x"]),
        }
    ),
    max_size=3,
)
LOGINS = st.lists(
    st.fixed_dictionaries(
        {
            "subject": st.text(alphabet="abcVICTM-_ ", min_size=1, max_size=8),
            "user_name": st.one_of(CLAIMED, st.just("someone.else@example.com")),
            "emails": st.lists(CLAIMED, max_size=2),
            "keys": KEYS,
        }
    ),
    min_size=1,
    max_size=3,
)
SETUP = st.fixed_dictionaries(
    {
        "made_by": st.sampled_from(["scim", "login"]),
        "mode": st.sampled_from(list(ProvisioningMode)),
        "email_linking": st.booleans(),
    }
)


class LinkingProperty(PairingSuite):
    async def _victim(self, stack: Stack, setup: dict[str, Any]) -> tuple[Any, str]:
        policy = TenantPolicy(allow_email_linking=setup["email_linking"])
        tenant = await stack.tenant(f"p{uuid.uuid4().hex[:12]}", policy=policy)
        emails = [{"value": e, "type": "work"} for e in VICTIM_EMAILS]
        if setup["made_by"] == "scim":
            made = await stack.send(scim_user(tenant, VICTIM, VICTIM_EXTERNAL, emails=emails))
            assert made.user is not None
            linked = await stack.send(login(tenant, "victim-sub", VICTIM, verified=VICTIM))
        else:
            linked = await stack.send(login(tenant, "victim-sub", VICTIM, emails=emails))
        assert linked.ok and linked.user is not None, linked.error
        async with stack.sessions() as session, session.begin():
            tenant = await tenants.update_tenant(session, tenant.id, mode=setup["mode"])
        return tenant, linked.user.id

    async def _identity(self, stack: Stack, user_id: str) -> tuple[Any, ...]:
        async with stack.sessions() as session:
            row = await session.get(UserRow, user_id)
        assert row is not None
        return (row.user_name, row.emails, row.external_id, row.display_name, row.active)

    async def _check(
        self, stack: Stack, setup: dict[str, Any], logins: list[dict[str, Any]]
    ) -> None:
        tenant, victim_id = await self._victim(stack, setup)
        before = await self._identity(stack, victim_id)
        for attempt in logins:
            if attempt["subject"] == "victim-sub":
                continue
            reply = await stack.send(
                login(
                    tenant,
                    attempt["subject"],
                    attempt["user_name"].strip() or "x@example.com",
                    issuer=ISSUER,
                    display_name="Mallory",
                    emails=[{"value": e.strip()} for e in attempt["emails"]],
                    verified=[{**k, "value": k["value"].strip()} for k in attempt["keys"]],
                )
            )
            assert reply.user is None or reply.user.id != victim_id, (attempt, reply)
        assert await self._identity(stack, victim_id) == before


def _property(examples: int) -> Any:
    """The property as a test method, with as many examples as its pairing affords."""

    @settings(
        max_examples=examples,
        deadline=None,
        # One stack per test serves every example: a fresh tenant each time keeps them apart.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(setup=SETUP, logins=LOGINS)
    async def test(
        self: LinkingProperty, stack: Stack, setup: dict[str, Any], logins: list[dict[str, Any]]
    ) -> None:
        await self._check(stack, setup, logins)

    return test


class TestMemorySqlite(LinkingProperty):
    bus_kind = "memory"
    db_kind = "sqlite"
    test_no_other_subject_of_the_connection_reaches_a_linked_account = _property(150)


class TestKafkaPostgres(LinkingProperty):
    bus_kind = "kafka"
    db_kind = "postgres"
    test_no_other_subject_of_the_connection_reaches_a_linked_account = _property(40)
