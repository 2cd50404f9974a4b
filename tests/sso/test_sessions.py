"""Sessions over HTTP: the tenant's maximum age and logout."""

from __future__ import annotations

from roster_shared.tenants import ProvisioningMode
from sso_login.saml import parse_idp_metadata

from tests.sso.saml_idp import SamlIdP
from tests.sso.stack import SsoStack, saml_login

ATTRS = {"mail": ["ada@example.com"]}


async def _tenant(stack: SsoStack, **sso: object) -> SamlIdP:
    await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    idp = await stack.saml_idp("acme")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    await stack.configure("acme", {"saml": connection, **sso})
    return idp


async def test_session_lasts_the_tenants_maximum_age(embedded: SsoStack) -> None:
    idp = await _tenant(embedded, session_max_age=120)
    done = await saml_login(embedded, embedded.browser(), idp, "acme", "ada@example.com", ATTRS)
    assert done.status == 303
    assert done.cookies["roster_session"]["max-age"] == "120"
    assert done.cookies["roster_session"]["path"] == "/"


async def test_logout_ends_the_session_even_if_the_cookie_is_kept(embedded: SsoStack) -> None:
    idp = await _tenant(embedded)
    browser = embedded.browser()
    done = await saml_login(embedded, browser, idp, "acme", "ada@example.com", ATTRS)
    value = done.cookies["roster_session"].value
    assert (await browser.get("/sso/session")).status == 200
    out = await browser.get("/sso/logout?return_to=/bye")
    assert out.status == 303 and out.headers["Location"] == "/bye"
    assert (await browser.get("/sso/session")).status == 401
    replayed = await embedded.browser().get("/sso/session", cookies={"roster_session": value})
    assert replayed.status == 401
    evil = await browser.get("/sso/logout?return_to=https://evil.example/")
    assert evil.status == 200  # an unsafe return_to is ignored
