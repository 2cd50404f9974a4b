"""Attacks on the OIDC relying party, each refused: state (missing, mismatched, replayed),
nonce, ``alg: none``, HS256 keyed with the RSA public key, wrong ``aud``, another tenant's
``iss``, an expired token, and unknown ``kid`` floods (at most one JWKS fetch per window).

Each asserts the logged reason of its own error page (``tests/sso/refusals.py``), so a deleted
check cannot hide behind another refusal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from roster_shared.tenants import ProvisioningMode
from yarl import URL

from tests.sso.rogue_op import RogueOp, query_of
from tests.sso.stack import Browser, SsoStack


@pytest.fixture
async def op(embedded: SsoStack) -> AsyncIterator[RogueOp]:
    provider = RogueOp()
    await provider.start("roster-acme")
    await embedded.tenant("acme", ProvisioningMode.JIT)
    await embedded.configure(
        "acme",
        {"oidc": {"issuer": provider.issuer, "client_id": "roster-acme", "client_secret": "s"}},
    )
    yield provider
    await provider.stop()


async def _login(browser: Browser, slug: str = "acme") -> tuple[str, Any]:
    """Start a login, let the provider answer; returns (callback URL, its response)."""
    start = await browser.get(f"/sso/{slug}/oidc/login")
    assert start.status == 303, await start.text()
    at_op = await browser.get(start.headers["Location"])
    callback = at_op.headers["Location"]
    return callback, await browser.get(callback)


async def _assert_refused(response: Any, browser: Browser, stack: SsoStack, reason: str) -> str:
    """Refused, no session, for a logged reason containing ``reason``; returns it."""
    assert response.status == 400, await response.text()
    page = await response.text()
    assert "Reference:" in page
    assert "roster_session" not in response.cookies
    assert (await browser.get("/sso/session")).status == 401
    return stack.refusals.assert_reason(page, reason)


async def test_genuine_token_is_accepted(embedded: SsoStack, op: RogueOp) -> None:
    browser = embedded.browser()
    _, answer = await _login(browser)
    assert answer.status == 303, await answer.text()
    me = await (await browser.get("/sso/session")).json()
    assert me["user_name"] == "eve@example.com"


async def test_missing_state(embedded: SsoStack, op: RogueOp) -> None:
    browser = embedded.browser()
    callback, _ = await _login(embedded.browser())  # another browser's code
    params = query_of(callback)
    answer = await browser.get(f"/sso/acme/oidc/callback?code={params['code']}&iss={op.issuer}")
    await _assert_refused(answer, browser, embedded, "no login state cookie")
    await browser.get("/sso/acme/oidc/login")  # now with a login cookie, but no state
    answer = await browser.get(f"/sso/acme/oidc/callback?code={params['code']}&iss={op.issuer}")
    await _assert_refused(answer, browser, embedded, "state missing or mismatched")


async def test_mismatched_state(embedded: SsoStack, op: RogueOp) -> None:
    attacker, victim = embedded.browser(), embedded.browser()
    callback, _ = await _login(attacker)  # used up by the attacker
    start = await victim.get("/sso/acme/oidc/login")
    assert start.status == 303
    # Login CSRF: the attacker's code and state land in the victim's browser.
    await _assert_refused(
        await victim.get(callback), victim, embedded, "state missing or mismatched"
    )


async def test_a_state_that_is_no_correlation_id_still_signs_in(
    embedded: SsoStack, op: RogueOp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # secrets.token_urlsafe starts with '-' once in 64: the contracts refuse such an id, and
    # the state's prefix, used as the login's correlation id, made 1 login in 64 a 400.
    import secrets
    import types

    import sso_login.oidc.routes as oidc_routes

    dashed = types.SimpleNamespace(
        token_urlsafe=lambda n=32: "-" + secrets.token_urlsafe(n),
        compare_digest=secrets.compare_digest,
    )
    monkeypatch.setattr(oidc_routes, "secrets", dashed)
    browser = embedded.browser()
    start = await browser.get("/sso/acme/oidc/login")
    at_op = await browser.get(start.headers["Location"])
    callback = at_op.headers["Location"]
    assert "state=-" in callback
    assert (await browser.get(callback)).status == 303


async def test_replayed_state(embedded: SsoStack, op: RogueOp) -> None:
    browser = embedded.browser()
    start = await browser.get("/sso/acme/oidc/login")
    where = URL(embedded.base + "/sso/acme/oidc/")
    cookie = browser.session.cookie_jar.filter_cookies(where)
    at_op = await browser.get(start.headers["Location"])
    callback = at_op.headers["Location"]
    assert (await browser.get(callback)).status == 303
    # Replay with the login cookie restored: the state was claimed once and for all.
    other = embedded.browser()
    other.session.cookie_jar.update_cookies(cookie, where)
    await _assert_refused(await other.get(callback), other, embedded, "state replayed")


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        pytest.param(
            lambda op, r: op.sign(op.claims("not-the-nonce")),
            "nonce does not match",
            id="wrong-nonce",
        ),
        pytest.param(lambda op, r: op.sign(op.claims(None)), "nonce does not match", id="no-nonce"),
        pytest.param(
            lambda op, r: RogueOp.unsigned(op.claims(r["nonce"])),
            "algorithm 'none' is not allowed",
            id="alg-none",
        ),
        pytest.param(
            lambda op, r: op.hs256_with_public_key(op.claims(r["nonce"])),
            "algorithm 'HS256' is not allowed",
            id="hs256-rsa-pubkey",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], aud="other")),
            "audience is not our client id",
            id="wrong-aud",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], aud=["roster-acme", "other"])),
            "azp is not our client id",
            id="multi-aud-no-azp",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], azp="other")),
            "azp is not our client id",
            id="wrong-azp",
        ),
        pytest.param(
            lambda op, r: op.sign(
                op.claims(r["nonce"], exp=int(time.time()) - 600, iat=int(time.time()) - 900)
            ),
            "ID token expired",
            id="expired",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], iat=int(time.time()) + 3600)),
            "issued in the future",
            id="issued-in-future",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], exp=None)),
            "lacks exp or iat",
            id="no-exp",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"], iss="https://other-tenant-idp.example")),
            "issuer 'https://other-tenant-idp.example' is not the tenant's",
            id="other-iss",
        ),
        pytest.param(
            lambda op, r: op.sign(op.claims(r["nonce"]))[:-8] + "AAAAAAAA",
            "ID token signature",
            id="bad-signature",
        ),
    ],
)
async def test_forged_id_tokens(embedded: SsoStack, op: RogueOp, forge: Any, reason: str) -> None:
    op.make_token = forge
    browser = embedded.browser()
    _, answer = await _login(browser)
    await _assert_refused(answer, browser, embedded, reason)


async def test_another_tenants_issuer(embedded: SsoStack, op: RogueOp) -> None:
    """globex's provider signs a token for acme's client. With its own key the signature
    already fails; with the same key as acme's provider — as every tenant of a multi-tenant
    IdP such as Entra ID shares one signing key set — only the issuer check refuses it."""
    other = RogueOp()
    await other.start("roster-acme")
    try:
        await embedded.tenant("globex", ProvisioningMode.JIT)
        await embedded.configure(
            "globex",
            {"oidc": {"issuer": other.issuer, "client_id": "roster-globex", "client_secret": "s"}},
        )
        op.make_token = lambda op_, r: other.sign(other.claims(r["nonce"]))
        browser = embedded.browser()
        _, answer = await _login(browser)
        await _assert_refused(answer, browser, embedded, "ID token signature")
        other.key = op.key  # one key set for all tenants
        browser = embedded.browser()
        _, answer = await _login(browser)
        await _assert_refused(
            answer, browser, embedded, f"issuer {other.issuer!r} is not the tenant's"
        )
        # And the RFC 9207 iss parameter naming another issuer is refused on its own.
        browser = embedded.browser()
        start = await browser.get("/sso/acme/oidc/login")
        callback = (await browser.get(start.headers["Location"])).headers["Location"]
        op.make_token = RogueOp.genuine
        forged = URL(callback).update_query(iss=other.issuer)
        await _assert_refused(await browser.get(str(forged)), browser, embedded, "RFC 9207 iss")
    finally:
        await other.stop()


async def test_unknown_kid_fetches_the_jwks_at_most_once_per_window(
    embedded: SsoStack, op: RogueOp
) -> None:
    op.make_token = lambda op_, r: op_.sign(op_.claims(r["nonce"]), kid="rotated-away")
    for _ in range(5):
        browser = embedded.browser()
        _, answer = await _login(browser)
        await _assert_refused(answer, browser, embedded, "unknown key id 'rotated-away'")
    assert op.jwks_hits == 1
    assert embedded.providers.jwks_fetches(op.issuer) == 1
    op.make_token = RogueOp.genuine  # the known key still works from the cache
    _, answer = await _login(embedded.browser())
    assert answer.status == 303
    assert op.jwks_hits == 1
