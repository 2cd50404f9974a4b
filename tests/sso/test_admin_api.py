"""The SSO admin API: connections over HTTP with the admin token, validated by sso-login and
stored by the user-store; the next login uses them."""

from __future__ import annotations

from roster_shared.tenants import ProvisioningMode

from tests.sso.stack import SsoStack, saml_login

ADMIN = {"Authorization": "Bearer sso-admin"}


async def test_connect_saml_and_oidc_over_http(embedded: SsoStack) -> None:
    await embedded.tenant("acme", ProvisioningMode.JIT)
    idp = await embedded.saml_idp("acme")
    browser = embedded.browser()
    base = "/sso/admin/tenants/acme/connections"

    assert (await browser.get(base)).status == 401
    assert (await browser.get(base, headers={"Authorization": "Bearer wrong"})).status == 401

    put = await browser.session.put(
        embedded.base + base + "/saml",
        headers=ADMIN,
        json={"metadata_xml": idp.metadata(), "allow_idp_initiated": True},
    )
    assert put.status == 200, await put.text()
    shown = await put.json()
    assert shown["saml"]["idp_entity_id"] == idp.entity_id
    assert shown["saml"]["allow_idp_initiated"] is True
    assert shown["service_provider"]["acs_url"] == f"{embedded.base}/sso/acme/saml/acs"

    done = await saml_login(embedded, embedded.browser(), idp, "acme", "ada@example.com", {})
    assert done.status == 303

    bad = await browser.session.put(
        embedded.base + base + "/oidc",
        headers=ADMIN,
        json={
            "issuer": "https://op",
            "client_id": "c",
            "client_secret": "s",
            "algorithms": ["none"],
        },
    )
    assert bad.status == 400
    good = await browser.session.put(
        embedded.base + base + "/oidc",
        headers=ADMIN,
        json={"issuer": "https://op", "client_id": "c", "client_secret": "top-secret"},
    )
    assert good.status == 200
    assert "top-secret" not in await good.text()
    options = await browser.session.patch(
        embedded.base + base, headers=ADMIN, json={"mapping": "okta", "session_max_age": 900}
    )
    assert (await options.json())["mapping"] == "okta"
    link = {"preset": "okta", "link": {"attribute": "subject", "match": "external_id"}}
    linked = await browser.session.patch(
        embedded.base + base, headers=ADMIN, json={"mapping": link}
    )
    assert linked.status == 200 and (await linked.json())["mapping"] == link
    for broken, why in (
        ({"link": {"match": "email"}}, 'mapping\'s "link" needs an "attribute"'),
        ({"preset": "nonesuch"}, "unknown attribute mapping preset 'nonesuch'"),
    ):
        refused = await browser.session.patch(
            embedded.base + base, headers=ADMIN, json={"mapping": broken}
        )
        assert refused.status == 400
        assert why in (await refused.json())["detail"]
    gone = await browser.session.delete(embedded.base + base + "/saml", headers=ADMIN)
    assert "saml" not in await gone.json()
    assert (await browser.get("/sso/acme/saml/login")).status == 404
    missing = await browser.session.get(
        embedded.base + "/sso/admin/tenants/nobody/connections", headers=ADMIN
    )
    assert missing.status == 404
