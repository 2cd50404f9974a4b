"""Browser-held state is sealed (issue 8, finding 2): the login-state and session cookies, read
raw from the browser's jar and base64-decoded every way there is, show no tenant id, OIDC
state, nonce, PKCE verifier, AuthnRequest id or personal data; and a tampered or re-purposed
cookie is refused for that reason (the logged one), not some other.

Before, the login-state cookie was base64 JSON with an HMAC: the tenant id (which then fed the
path traversal of finding 2) and the PKCE verifier were in clear.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from roster_shared.tenants import ProvisioningMode, TenantInfo
from sso_login.saml import parse_idp_metadata
from yarl import URL

from tests.sso.rogue_op import RogueOp, query_of
from tests.sso.stack import Browser, SsoStack, saml_request_id


class RecordingOp(RogueOp):
    """The test provider, also keeping the PKCE verifiers the token requests carried."""

    def __init__(self) -> None:
        super().__init__()
        self.verifiers: list[str] = []

    async def _token(self, request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        self.verifiers.extend(form.get("code_verifier", []))
        # The base handler reads the body again; aiohttp keeps it, so that works.
        return await super()._token(request)


@pytest.fixture
async def op(stack: SsoStack) -> AsyncIterator[tuple[RecordingOp, TenantInfo]]:
    provider = RecordingOp()
    await provider.start("roster-acme")
    tenant = await stack.tenant("acme", ProvisioningMode.JIT)
    await stack.configure(
        "acme",
        {"oidc": {"issuer": provider.issuer, "client_id": "roster-acme", "client_secret": "s"}},
    )
    yield provider, tenant
    await provider.stop()


def cookie(browser: Browser, name: str, path: str) -> str:
    found = browser.session.cookie_jar.filter_cookies(URL(browser.base + path))
    assert name in found, (name, list(found))
    return found[name].value


def readable(value: str) -> str:
    """Everything the value shows: itself, and each part base64-decoded (both alphabets)."""
    shown = [value]
    for part in value.replace("~", ".").split("."):
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                shown.append(decode(part + "=" * (-len(part) % 4)).decode("latin-1"))
            except (binascii.Error, ValueError):
                continue
    return "\n".join(shown)


def assert_shows_none_of(value: str, *secrets: str) -> None:
    text = readable(value)
    for secret in secrets:
        assert secret and secret not in text, secret


async def test_no_cookie_shows_the_tenant_state_nonce_verifier_or_who_signed_in(
    stack: SsoStack, op: tuple[RecordingOp, TenantInfo]
) -> None:
    provider, tenant = op
    browser = stack.browser()
    start = await browser.get("/sso/acme/oidc/login?return_to=/app")
    assert start.status == 303
    authorize = query_of(start.headers["Location"])
    state = cookie(browser, "roster_oidc", "/sso/acme/oidc/")
    at_op = await browser.get(start.headers["Location"])
    done = await browser.get(at_op.headers["Location"])
    assert done.status == 303, await done.text()  # the sealed state did its job
    assert provider.verifiers and len(provider.verifiers[0]) >= 43
    assert_shows_none_of(
        state,
        tenant.id,
        authorize["state"],
        authorize["nonce"],
        provider.verifiers[0],
        provider.issuer,
        "/app",
    )
    session = cookie(browser, "roster_session", "/")
    me = await (await browser.get("/sso/session")).json()
    assert me["user_name"] == "eve@example.com"
    assert_shows_none_of(session, tenant.id, me["user_id"], "eve@example.com", me["session_id"])


async def _refusal_reason(browser: Browser, callback: str, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sso_login.errors"):
        answer = await browser.get(callback)
    assert answer.status == 400, await answer.text()
    assert (await browser.get("/sso/session")).status == 401
    reasons = [r.reason for r in caplog.records if hasattr(r, "reason")]
    assert len(reasons) == 1, reasons
    return str(reasons[0])


async def _started(stack: SsoStack) -> tuple[Browser, str, str]:
    """A browser that started a login; its login-state cookie and the provider's callback."""
    browser = stack.browser()
    start = await browser.get("/sso/acme/oidc/login")
    value = cookie(browser, "roster_oidc", "/sso/acme/oidc/")
    callback = (await browser.get(start.headers["Location"])).headers["Location"]
    return browser, value, callback


def _put(browser: Browser, name: str, value: str, path: str) -> None:
    browser.session.cookie_jar.update_cookies({name: value}, URL(browser.base + path))


async def test_a_tampered_login_state_cookie_is_refused_as_tampered(
    stack: SsoStack, op: Any, caplog: pytest.LogCaptureFixture
) -> None:
    browser, value, callback = await _started(stack)
    version, purpose, blob = value.split(".")
    flipped = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    _put(browser, "roster_oidc", f"{version}.{purpose}.{flipped}", "/sso/acme/oidc/")
    reason = await _refusal_reason(browser, callback, caplog)
    assert reason == "no login state cookie: forged, tampered with, or sealed under another secret"


async def test_a_session_cookie_is_no_login_state(
    stack: SsoStack, op: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Re-purposed: a genuine value of ours, sealed for sessions, offered as login state."""
    signed_in, _, callback = await _started(stack)
    assert (await signed_in.get(callback)).status == 303
    session = cookie(signed_in, "roster_session", "/")
    browser, _, callback = await _started(stack)
    _put(browser, "roster_oidc", session, "/sso/acme/oidc/")
    reason = await _refusal_reason(browser, callback, caplog)
    assert (
        reason == "no login state cookie: sealed for another purpose ('session', not 'oidc-login')"
    )
    # And the other way round: login state is no session.
    thief = stack.browser()
    _, state, _ = await _started(stack)
    _put(thief, "roster_session", state, "/")
    assert (await thief.get("/sso/session")).status == 401


async def test_a_purpose_label_swapped_in_clear_does_not_open(
    stack: SsoStack, op: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The purpose is also the associated data and picks the key: relabelling a session as
    login state gets past the label check, and fails as tampered."""
    signed_in, _, callback = await _started(stack)
    assert (await signed_in.get(callback)).status == 303
    version, _, blob = cookie(signed_in, "roster_session", "/").split(".")
    browser, _, callback = await _started(stack)
    _put(browser, "roster_oidc", f"{version}.oidc-login.{blob}", "/sso/acme/oidc/")
    reason = await _refusal_reason(browser, callback, caplog)
    assert reason.endswith("forged, tampered with, or sealed under another secret")


async def test_the_saml_login_state_shows_neither_tenant_nor_request_id(
    embedded: SsoStack,
) -> None:
    tenant = await embedded.tenant("acme", ProvisioningMode.JIT)
    idp = await embedded.saml_idp("acme")
    await embedded.configure(
        "acme", {"saml": parse_idp_metadata(idp.metadata()).model_dump(mode="json")}
    )
    browser = embedded.browser()
    start = await browser.get("/sso/acme/saml/login?return_to=/app")
    assert start.status == 303
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    value = cookie(browser, "roster_saml", "/sso/acme/saml/")
    assert_shows_none_of(value, tenant.id, request_id, "/app")
    # The sealed request id still binds the response: a solicited login goes through.
    entity_id, _ = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=request_id,
        attributes={"mail": ["ada@example.com"]},
    )
    done = await browser.post(acs, data={"SAMLResponse": encoded})
    assert done.status == 303, await done.text()
    assert done.headers["Location"] == "/app"
