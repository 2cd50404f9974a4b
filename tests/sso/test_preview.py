"""Test sign-in (``?test=<ticket>``): a real sign-in through the IdP whose result is a page — what
arrived, what the mapping made of it, and the verdict — with nothing created and no session.
SAML (pysaml2) and OIDC (node oidc-provider), on both pairings."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from roster_shared.tenants import ProvisioningMode
from sqlmodel import col
from sso_login.keys import CONTEXT
from sso_login.tokens import Sealer
from user_store.tables import UserRow

from tests.sso.openid_provider import follow_to_callback
from tests.sso.stack import SsoStack, saml_request_id
from tests.sso.test_oidc_login import connect, op_factory  # noqa: F401 - a fixture
from tests.sso.test_saml_login import ATTRS, _configure_saml


async def users_of(stack: SsoStack, tenant_id: str) -> int:
    async with stack.sessions() as session:
        rows = await session.execute(
            sa.select(sa.func.count())
            .select_from(UserRow)
            .where(col(UserRow.tenant_id) == tenant_id)
        )
        return int(rows.scalar_one())


async def test_saml_test_sign_in_shows_the_verdict_and_creates_nothing(stack: SsoStack) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM)
    idp = await _configure_saml(stack, "acme")
    browser = stack.browser()
    ticket = await stack.test_ticket("acme")
    start = await browser.get(f"/sso/acme/saml/login?test={ticket}&return_to=/setup/back")
    assert start.status == 303
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    entity_id, _ = stack.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=request_id,
        attributes={**ATTRS, "groups": ["eng"]},
    )
    page = await browser.post(acs, data={"SAMLResponse": encoded})
    assert page.status == 200
    text = await page.text()
    assert "Would be refused: mode scim, and SCIM has not provisioned" in text
    assert "ada@example.com" in text and "Lovelace" in text and "eng" in text
    assert 'href="/setup/back"' in text
    assert "roster_session" not in page.cookies
    assert await users_of(stack, tenant.id) == 0  # nothing was created

    # A ticket starts one Test sign-in: it travelled in a URL. The admin clicks again.
    again = await browser.get(f"/sso/acme/saml/login?test={ticket}")
    text = await again.text()
    assert again.status == 400 and "Location" not in again.headers, text
    stack.refusals.assert_reason(text, "test ticket already used")

    # A response that fails a check is shown as the refusal it would be, again changing nothing.
    start = await browser.get(f"/sso/acme/saml/login?test={await stack.test_ticket('acme')}")
    _, acs = saml_request_id(idp, start.headers["Location"])
    forged = base64.b64encode(b"<samlp:Response xmlns:samlp='x'/>").decode()
    page = await browser.post(acs, data={"SAMLResponse": forged})
    assert page.status == 200
    assert "Would be refused: the SAML response failed a check" in await page.text()
    assert await users_of(stack, tenant.id) == 0


async def test_oidc_test_sign_in_previews_a_jit_account(
    stack: SsoStack,
    op_factory: Any,  # noqa: F811 - the fixture imported above
) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    op = op_factory(stack, "acme")
    await connect(stack, op, "acme")
    op.account("u-ada", email="ada@example.com", email_verified=True, given_name="Ada")
    browser = stack.browser()
    start = await browser.get(f"/sso/acme/oidc/login?test={await stack.test_ticket('acme')}")
    assert start.status == 303, await start.text()
    callback = await follow_to_callback(browser, start.headers["Location"], "u-ada")
    page = await browser.get(callback)
    assert page.status == 200, await page.text()
    text = await page.text()
    assert "Would sign in: a new account &#x27;ada@example.com&#x27;" in text
    assert "u-ada" in text and "user_name=ada@example.com" in text
    assert "roster_session" not in page.cookies
    assert await users_of(stack, tenant.id) == 0


async def test_saml_test_sign_in_shows_a_refusal_only_the_user_stores_rules_see(
    stack: SsoStack,
) -> None:
    """An account exists with that userName but is linked to another subject: a look-up by
    userName would say "would sign in"; the user-store's dry run refuses, with its reason."""
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    idp = await _configure_saml(stack, "acme")
    entity_id, _ = stack.sp("acme")

    async def sign_in(name_id: str, test: bool) -> Any:
        browser = stack.browser()
        query = f"?test={await stack.test_ticket('acme')}" if test else ""
        start = await browser.get("/sso/acme/saml/login" + query)
        request_id, acs = saml_request_id(idp, start.headers["Location"])
        encoded = idp.response(
            sp_entity_id=entity_id,
            acs_url=acs,
            name_id=name_id,
            in_response_to=request_id,
            attributes=ATTRS,
        )
        return await browser.post(acs, data={"SAMLResponse": encoded})

    real = await sign_in("ada-subject", test=False)
    assert real.status == 303, await real.text()
    assert await users_of(stack, tenant.id) == 1
    page = await sign_in("mallory-subject", test=True)
    assert page.status == 200
    text = await page.text()
    assert "Would be refused: this sign-in cannot be matched safely to an account" in text
    assert "the user-store&#x27;s reason:" in text
    assert "roster_session" not in page.cookies
    assert await users_of(stack, tenant.id) == 1  # nothing made, the account untouched

    again = await sign_in("ada-subject", test=True)  # the account's own subject: would update
    assert "Would sign in as the existing account &#x27;ada@example.com&#x27;" in await again.text()


async def test_a_test_sign_in_starts_only_with_a_live_ticket_for_its_tenant(
    stack: SsoStack,
) -> None:
    # The result page shows the verdict's reason: for the admin setting up SSO, not for every
    # employee who can sign in at the IdP. Each bad ticket is refused before any AuthnRequest.
    acme = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    await stack.tenant("beta", ProvisioningMode.SCIM_JIT)
    await _configure_saml(stack, "acme")
    assert stack.sso_app is not None
    sealer = stack.sso_app[CONTEXT].sealer
    cases = {
        "1": "test ticket malformed",  # the old ?test=1 link
        await stack.test_ticket("beta"): "made for another tenant",
        sealer.dumps("test-ticket", {"tid": acme.id}, max_age=-1): "test ticket expired",
        sealer.dumps("saml-login", {"tid": acme.id}, max_age=60): "another purpose",
        Sealer(b"x" * 32).dumps("test-ticket", {"tid": acme.id}, max_age=60): "forged",
    }
    browser = stack.browser()
    for ticket, why in cases.items():
        page = await browser.get("/sso/acme/saml/login?" + urlencode({"test": ticket}))
        text = await page.text()
        assert page.status == 400 and "Location" not in page.headers, text
        assert "Start Test sign-in again from the setup portal" in text
        stack.refusals.assert_reason(text, why)
    assert await users_of(stack, acme.id) == 0


async def test_only_the_admin_credential_mints_a_test_ticket(stack: SsoStack) -> None:
    await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    url = f"{stack.base}/sso/admin/tenants/acme/test-tickets"
    async with aiohttp.ClientSession() as client:
        for headers in ({}, {"Authorization": "Bearer not-the-admin"}):
            async with client.post(url, headers=headers) as response:
                assert response.status == 401
                assert (await response.json())["error"] == "unauthorized"
        async with client.post(
            f"{stack.base}/sso/admin/tenants/nobody/test-tickets",
            headers={"Authorization": "Bearer sso-admin"},
        ) as response:
            assert response.status == 404
