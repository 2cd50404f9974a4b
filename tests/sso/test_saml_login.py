"""SAML login end to end: pysaml2's IdP signs, our SP (python3-saml) checks, the user-store
decides. JIT create, update on a second login, SCIM adoption, refusal after deactivation and
session revocation — on the in-process bus with SQLite and on Kafka with PostgreSQL."""

from __future__ import annotations

import asyncio

from roster_shared.tenants import ProvisioningMode

from tests.integration.harness import scim_user
from tests.sso.saml_idp import SamlIdP
from tests.sso.stack import SsoStack, saml_login, wait_until

ATTRS = {"mail": ["ada@example.com"], "givenName": ["Ada"], "sn": ["Lovelace"]}


async def _configure_saml(stack: SsoStack, slug: str, **options: object) -> SamlIdP:
    from sso_login.saml import parse_idp_metadata

    idp = await stack.saml_idp(slug)
    connection = parse_idp_metadata(idp.metadata())
    saml = connection.model_dump(mode="json")
    saml.update(options)
    await stack.configure(slug, {"saml": saml})
    return idp


async def test_jit_update_adoption_deactivation(stack: SsoStack) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    idp = await _configure_saml(stack, "acme")
    browser = stack.browser()

    # First login: JIT creates the user; the browser lands where it asked, signed in.
    done = await saml_login(stack, browser, idp, "acme", "ada@example.com", ATTRS, return_to="/app")
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == "/app"
    cookie = done.cookies["roster_session"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == "Lax"
    me = await browser.get("/sso/session")
    assert me.status == 200
    first = await me.json()
    assert first["user_name"] == "ada@example.com"
    assert first["tenant"] == "acme"

    # Second login with changed attributes: the same user, updated.
    changed = {**ATTRS, "sn": ["King"]}
    again = await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", changed)
    assert again.status == 303
    snapshot = await stack.user(tenant.id, first["user_id"])
    assert snapshot.family_name == "King"
    assert snapshot.last_login_at is not None

    # SCIM creates the same person: adopted, not duplicated.
    reply = await stack.send(scim_user(tenant, "Ada@Example.com", external_id="okta-1"))
    assert reply.ok, reply.error
    assert reply.user is not None and reply.user.id == first["user_id"]
    assert reply.user.scim_managed

    # SCIM deactivates: the live session is revoked, and a new login is refused.
    reply = await stack.send(
        scim_user(
            tenant,
            "Ada@Example.com",
            external_id="okta-1",
            active=False,
            target_id=first["user_id"],
        )
    )
    assert reply.ok and reply.user is not None and not reply.user.active

    async def revoked() -> bool:
        return (await browser.get("/sso/session")).status == 401

    await wait_until(revoked)
    refused = await saml_login(stack, stack.browser(), idp, "acme", "ada@example.com", ATTRS)
    assert refused.status == 403
    page = await refused.text()
    assert "deactivated" in page and "Reference:" in page


async def test_scim_mode_refuses_people_scim_did_not_provision(stack: SsoStack) -> None:
    await stack.tenant("strict", ProvisioningMode.SCIM)
    idp = await _configure_saml(stack, "strict")
    refused = await saml_login(stack, stack.browser(), idp, "strict", "bob@example.com", ATTRS)
    assert refused.status == 403
    assert "not given you access" in (await refused.text()).replace("&#x27;", "'")


async def test_two_concurrent_posts_of_one_response_make_one_session(stack: SsoStack) -> None:
    await stack.tenant("acme", ProvisioningMode.JIT)
    idp = await _configure_saml(stack, "acme", allow_idp_initiated=True)
    entity_id, acs = stack.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    browsers = [stack.browser() for _ in range(4)]
    answers = await asyncio.gather(*(b.post(acs, data={"SAMLResponse": encoded}) for b in browsers))
    assert sorted(a.status for a in answers) == [303, 400, 400, 400]
    assert sum("roster_session" in a.cookies for a in answers) == 1


async def test_same_email_from_two_tenants_idps_is_two_users(embedded: SsoStack) -> None:
    await embedded.tenant("acme", ProvisioningMode.JIT)
    await embedded.tenant("globex", ProvisioningMode.JIT)
    acme_idp = await _configure_saml(embedded, "acme")
    globex_idp = await _configure_saml(embedded, "globex")
    ids = []
    for slug, idp in (("acme", acme_idp), ("globex", globex_idp)):
        browser = embedded.browser()
        done = await saml_login(embedded, browser, idp, slug, "ada@example.com", ATTRS)
        assert done.status == 303
        ids.append((await (await browser.get("/sso/session")).json())["user_id"])
    assert ids[0] != ids[1]


async def test_an_idp_cannot_sign_in_to_another_tenant(embedded: SsoStack) -> None:
    """globex's IdP (its own key) posting to acme's ACS: acme trusts only its own IdP."""
    await embedded.tenant("acme", ProvisioningMode.JIT)
    await embedded.tenant("globex", ProvisioningMode.JIT)
    await _configure_saml(embedded, "acme")
    globex_idp = await _configure_saml(embedded, "globex")
    refused = await saml_login(
        embedded, embedded.browser(), globex_idp, "acme", "ada@example.com", ATTRS
    )
    assert refused.status == 400
