"""OIDC login end to end against a real OpenID Provider (oidc-provider on Node): code flow
with PKCE, ID token and userinfo, JIT create, update, SCIM adoption and refusal after
deactivation; on the in-process bus with SQLite and on Kafka with PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from roster_shared.tenants import ProvisioningMode

from tests.integration.harness import scim_user
from tests.sso.openid_provider import OpenIdProvider, callback_params, follow_to_callback
from tests.sso.stack import Browser, SsoStack, wait_until

SECRET = "client-secret-of-acme"


@pytest.fixture
def op_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[OpenIdProvider] = []

    def start(stack: SsoStack, *slugs: str) -> OpenIdProvider:
        clients = [
            {
                "client_id": f"roster-{slug}",
                "client_secret": SECRET,
                "redirect_uris": [f"{stack.base}/sso/{slug}/oidc/callback"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }
            for slug in slugs
        ]
        op = OpenIdProvider(tmp_path / f"op{len(started)}", clients)
        op.start()
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()


async def connect(stack: SsoStack, op: OpenIdProvider, slug: str, **extra: Any) -> None:
    oidc = {
        "issuer": op.issuer,
        "client_id": f"roster-{slug}",
        "client_secret": SECRET,
        "scopes": ["openid", "email", "profile", "groups"],
        **extra,
    }
    await stack.configure(slug, {"oidc": oidc})


async def oidc_login(browser: Browser, slug: str, login: str) -> Any:
    start = await browser.get(f"/sso/{slug}/oidc/login?return_to=/app")
    assert start.status == 303, await start.text()
    callback = await follow_to_callback(browser, start.headers["Location"], login)
    return await browser.get(callback)


async def test_oidc_jit_update_adoption_deactivation(stack: SsoStack, op_factory: Any) -> None:
    tenant = await stack.tenant("acme", ProvisioningMode.SCIM_JIT)
    op = op_factory(stack, "acme")
    await connect(stack, op, "acme")
    op.account(
        "u-ada",
        email="ada@example.com",
        email_verified=True,
        given_name="Ada",
        family_name="Lovelace",
        groups=["engineering"],
    )
    browser = stack.browser()
    done = await oidc_login(browser, "acme", "u-ada")
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == "/app"
    first = await (await browser.get("/sso/session")).json()
    assert first["user_name"] == "ada@example.com"
    assert first["protocol"] == "oidc"
    user = await stack.user(tenant.id, first["user_id"])
    assert user.given_name == "Ada"
    # From userinfo: oidc-provider keeps scope claims out of the ID token.
    assert [g.display for g in user.groups] == ["engineering"]
    assert any(link.issuer == op.issuer and link.subject == "u-ada" for link in user.identity_links)

    # Changed at the provider: the second login updates the same user.
    op.account("u-ada", email="ada@example.com", given_name="Ada", family_name="King")
    again = await oidc_login(stack.browser(), "acme", "u-ada")
    assert again.status == 303
    assert (await stack.user(tenant.id, first["user_id"])).family_name == "King"

    reply = await stack.send(scim_user(tenant, "ada@example.com", external_id="ext-ada"))
    assert reply.ok and reply.user is not None and reply.user.id == first["user_id"]

    reply = await stack.send(
        scim_user(
            tenant,
            "ada@example.com",
            external_id="ext-ada",
            active=False,
            target_id=first["user_id"],
        )
    )
    assert reply.ok

    async def revoked() -> bool:
        return (await browser.get("/sso/session")).status == 401

    await wait_until(revoked)
    refused = await oidc_login(stack.browser(), "acme", "u-ada")
    assert refused.status == 403


async def test_callback_carries_rfc9207_iss_and_state_is_single_use(
    embedded: SsoStack, op_factory: Any
) -> None:
    await embedded.tenant("acme", ProvisioningMode.JIT)
    op = op_factory(embedded, "acme")
    await connect(embedded, op, "acme")
    op.account("u-bob", email="bob@example.com")
    browser = embedded.browser()
    start = await browser.get("/sso/acme/oidc/login")
    authorize = callback_params(start.headers["Location"])
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["nonce"] and authorize["state"]
    callback = await follow_to_callback(browser, start.headers["Location"], "u-bob")
    params = callback_params(callback)
    assert params["iss"] == op.issuer
    assert (await browser.get(callback)).status == 303
    replay = await browser.get(callback)  # the same state again (cookie gone, claim taken)
    assert replay.status == 400
