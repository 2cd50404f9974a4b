"""Account takeover through JIT linking (issue 8, finding 1), end to end as an attacker runs it.

A real OpenID Provider (oidc-provider) and a real SAML IdP (pysaml2) sign what an attacker's
own IdP account says; our SP checks it and the user-store decides. A login may join an existing
account only on what the IdP verified (OIDC ``email_verified``, a SAML NameID of e-mail or
persistent format), and never an account already linked to another subject of the same IdP.
Each refusal is checked for its reason in the log line that carries the page's reference
(``stack.refusals``).
On the in-process bus with SQLite and on Kafka with PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from roster_shared.tenants import ProvisioningMode

from tests.integration.harness import scim_user
from tests.sso.stack import SsoStack, saml_login
from tests.sso.test_oidc_login import connect, oidc_login
from tests.sso.test_oidc_login import op_factory as op_factory  # a fixture

UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


async def test_oidc_unverified_email_never_joins_a_scim_account(
    stack: SsoStack, op_factory: Any
) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    op = op_factory(stack, "acme")
    await connect(stack, op, "acme")
    made = await stack.send(scim_user(tenant, "bob@example.com", external_id="ext-bob"))
    assert made.user is not None

    op.account("u-bob", email="bob@example.com", email_verified=False, given_name="Bob")
    browser = stack.browser()
    refused = await oidc_login(browser, "acme", "u-bob")
    assert refused.status == 403
    reason = stack.refusals.reason(await refused.text())
    assert reason.startswith("link refused") and "carries no verified key" in reason
    assert (await browser.get("/sso/session")).status == 401
    assert (await stack.user(tenant.id, made.user.id)).identity_links == ()

    # The same person once the provider vouches for the address: the SCIM account, linked.
    op.account("u-bob", email="bob@example.com", email_verified=True, given_name="Bob")
    browser = stack.browser()
    done = await oidc_login(browser, "acme", "u-bob")
    assert done.status == 303, await done.text()
    session = await (await browser.get("/sso/session")).json()
    assert session["user_id"] == made.user.id
    user = await stack.user(tenant.id, made.user.id)
    assert [(li.issuer, li.subject) for li in user.identity_links] == [(op.issuer, "u-bob")]
    assert user.given_name == "Bob" and user.user_name == "bob@example.com"


async def test_oidc_verified_email_of_a_linked_account_is_refused(
    stack: SsoStack, op_factory: Any
) -> None:
    """nOAuth: the attacker's provider account carries the victim's address, verified."""
    tenant = await stack.tenant("acme", ProvisioningMode.JIT)
    op = op_factory(stack, "acme")
    await connect(stack, op, "acme")
    op.account("u-carol", email="carol@example.com", email_verified=True, family_name="Jones")
    victim = stack.browser()
    assert (await oidc_login(victim, "acme", "u-carol")).status == 303
    carol = await (await victim.get("/sso/session")).json()

    op.account("u-mallory", email="Carol@Example.com", email_verified=True, family_name="Evil")
    attacker = stack.browser()
    refused = await oidc_login(attacker, "acme", "u-mallory")
    assert refused.status == 403
    reason = stack.refusals.reason(await refused.text())
    assert "already linked to another subject" in reason
    assert (await attacker.get("/sso/session")).status == 401
    user = await stack.user(tenant.id, carol["user_id"])
    assert user.family_name == "Jones" and user.user_name == "carol@example.com"
    assert [li.subject for li in user.identity_links] == ["u-carol"]


async def test_saml_nameid_links_only_in_a_verified_format(stack: SsoStack) -> None:
    from sso_login.saml import parse_idp_metadata

    tenant = await stack.tenant("acme", ProvisioningMode.SCIM)
    idp = await stack.saml_idp("acme")
    await stack.configure("acme", {"saml": parse_idp_metadata(idp.metadata()).model_dump()})
    made = await stack.send(scim_user(tenant, "dana@example.com", external_id="ext-dana"))
    assert made.user is not None
    attrs = {"mail": ["dana@example.com"]}

    browser = stack.browser()
    refused = await saml_login(
        stack, browser, idp, "acme", "dana@example.com", attrs, name_id_format=UNSPECIFIED
    )
    assert refused.status == 403
    reason = stack.refusals.reason(await refused.text())
    assert reason.startswith("link refused") and "carries no verified key" in reason
    assert (await browser.get("/sso/session")).status == 401

    done = await saml_login(stack, stack.browser(), idp, "acme", "Dana@Example.com", attrs)
    assert done.status == 303, await done.text()
    user = await stack.user(tenant.id, made.user.id)
    assert [(li.subject, li.subject_format) for li in user.identity_links] == [
        ("Dana@Example.com", "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
    ]
    assert user.user_name == "dana@example.com"  # SCIM's userName, not the login's spelling
