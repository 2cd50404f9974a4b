"""The known attacks on a SAML service provider, each of which must be refused.

Responses come from pysaml2's IdP, signed with the IdP's real key; the tests then tamper with
them as an attacker would (or have the real key sign a wrong field, to show the field is
checked and not just the signature). Refused means: an error page, no session, and the logged
reason of that very page names the check the test is about — so a deleted check cannot hide
behind another refusal (``tests/sso/refusals.py``).
"""

from __future__ import annotations

import base64
import copy
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree
from roster_shared.tenants import ProvisioningMode
from sso_login.saml import SamlError, decode_redirect, parse_idp_metadata
from yarl import URL

from tests.sso.saml_idp import (
    DS,
    NS,
    RSA_SHA1,
    SHA1,
    Keys,
    SamlIdP,
    assertion_of,
    encode,
    parse,
    resign,
)
from tests.sso.stack import SsoStack, saml_request_id

ATTRS = {"mail": ["ada@example.com"], "givenName": ["Ada"]}
EVIL = "admin@example.com"


async def _setup(stack: SsoStack, *, idp_initiated: bool = False, **sso: Any) -> SamlIdP:
    await stack.tenant("acme", ProvisioningMode.JIT)
    await stack.tenant("globex", ProvisioningMode.JIT)
    idp = await stack.saml_idp("acme", "globex")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    connection["allow_idp_initiated"] = idp_initiated
    await stack.configure("acme", {"saml": connection, **sso})
    await stack.configure("globex", {"saml": connection})
    return idp


async def _solicited(stack: SsoStack, idp: SamlIdP, **kw: Any) -> tuple[Any, bytes]:
    """A browser that started a login, and the IdP's genuine answer (XML) to it."""
    browser = stack.browser()
    start = await browser.get("/sso/acme/saml/login")
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    entity_id, _ = stack.sp("acme")
    xml = idp.response_xml(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id=kw.pop("name_id", "ada@example.com"),
        in_response_to=request_id,
        attributes=ATTRS,
        **kw,
    )
    return browser, xml


async def _refused(
    browser: Any, stack: SsoStack, payload: bytes | str, reason: str, **form: str
) -> str:
    """POST ``payload`` to acme's ACS: refused, no session, and for a reason containing
    ``reason``; returns the logged reason."""
    encoded = payload if isinstance(payload, str) else encode(payload)
    _, acs = stack.sp("acme")
    answer = await browser.post(acs, data={"SAMLResponse": encoded, **form})
    assert answer.status == 400, await answer.text()
    page = await answer.text()
    assert "Reference:" in page and "Traceback" not in page
    assert "roster_session" not in answer.cookies
    assert (await browser.get("/sso/session")).status == 401
    return stack.refusals.assert_reason(page, reason)


async def test_genuine_response_is_accepted(embedded: SsoStack) -> None:
    """The control: without tampering, the same path signs the person in."""
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    _, acs = embedded.sp("acme")
    answer = await browser.post(acs, data={"SAMLResponse": encode(xml)})
    assert answer.status == 303
    assert (await browser.get("/sso/session")).status == 200


async def test_unsigned_assertion(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    assertion = assertion_of(root)
    assertion.remove(assertion.find("ds:Signature", namespaces=NS))
    await _refused(
        browser, embedded, etree.tostring(root), "Assertion of the Response is not signed"
    )


async def test_signature_stripped_of_its_value(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    value = root.find(".//ds:SignatureValue", namespaces=NS)
    value.text = ""
    await _refused(browser, embedded, etree.tostring(root), "Signature validation failed")


async def test_tampered_nameid_under_the_original_signature(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    root.find(".//saml:Subject/saml:NameID", namespaces=NS).text = EVIL
    await _refused(browser, embedded, etree.tostring(root), "Signature validation failed")


def _evil_copy(assertion: etree._Element) -> etree._Element:
    evil = copy.deepcopy(assertion)
    evil.set("ID", "_evil" + evil.get("ID"))
    signature = evil.find("ds:Signature", namespaces=NS)
    if signature is not None:
        evil.remove(signature)
    evil.find(".//saml:Subject/saml:NameID", namespaces=NS).text = EVIL
    return evil


def xsw1(root: etree._Element) -> etree._Element:
    """Signed Response copied into its own Signature; the outer one altered."""
    original = copy.deepcopy(root)
    signature = root.find("ds:Signature", namespaces=NS)
    root.set("ID", "_evil" + root.get("ID"))
    signature.append(original)
    root.replace(assertion_of(root), _evil_copy(assertion_of(root)))
    return root


def xsw2(root: etree._Element) -> etree._Element:
    """Signed Response copied beside (before) its Signature, detached-style."""
    original = copy.deepcopy(root)
    signature = root.find("ds:Signature", namespaces=NS)
    root.set("ID", "_evil" + root.get("ID"))
    signature.addprevious(original)
    root.replace(assertion_of(root), _evil_copy(assertion_of(root)))
    return root


def xsw3(root: etree._Element) -> etree._Element:
    """Evil assertion before the signed one."""
    assertion = assertion_of(root)
    assertion.addprevious(_evil_copy(assertion))
    return root


def xsw4(root: etree._Element) -> etree._Element:
    """Signed assertion moved inside the evil one."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    root.replace(assertion, evil)
    evil.append(assertion)
    return root


def xsw5(root: etree._Element) -> etree._Element:
    """The signature moved to the evil assertion; an unsigned copy of the original appended."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    signature = assertion.find("ds:Signature", namespaces=NS)
    evil.find("saml:Issuer", namespaces=NS).addnext(copy.deepcopy(signature))
    evil.set("ID", assertion.get("ID"))
    original = copy.deepcopy(assertion)
    original.remove(original.find("ds:Signature", namespaces=NS))
    root.replace(assertion, evil)
    root.append(original)
    return root


def xsw6(root: etree._Element) -> etree._Element:
    """Evil assertion carries the signature, the original sits inside that signature."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    signature = copy.deepcopy(assertion.find("ds:Signature", namespaces=NS))
    evil.find("saml:Issuer", namespaces=NS).addnext(signature)
    evil.set("ID", assertion.get("ID"))
    original = copy.deepcopy(assertion)
    original.remove(original.find("ds:Signature", namespaces=NS))
    signature.append(original)
    root.replace(assertion, evil)
    return root


def xsw7(root: etree._Element) -> etree._Element:
    """The signed assertion hidden in an Extensions element, the evil one in its place."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    extensions = etree.SubElement(root, f"{{{NS['samlp']}}}Extensions")
    root.replace(assertion, evil)
    extensions.append(assertion)
    root.insert(1, extensions)
    return root


def xsw8(root: etree._Element) -> etree._Element:
    """Evil assertion with the signature; the original inside a ds:Object of that signature."""
    assertion = assertion_of(root)
    evil = _evil_copy(assertion)
    signature = copy.deepcopy(assertion.find("ds:Signature", namespaces=NS))
    evil.find("saml:Issuer", namespaces=NS).addnext(signature)
    evil.set("ID", assertion.get("ID"))
    holder = etree.SubElement(signature, f"{{{DS}}}Object")
    original = copy.deepcopy(assertion)
    original.remove(original.find("ds:Signature", namespaces=NS))
    holder.append(original)
    root.replace(assertion, evil)
    return root


@pytest.mark.parametrize("wrap", [xsw1, xsw2, xsw3, xsw4, xsw5, xsw6, xsw7, xsw8])
async def test_signature_wrapping(embedded: SsoStack, wrap: Callable[..., Any]) -> None:
    idp = await _setup(embedded)
    signed_response = wrap in (xsw1, xsw2)
    browser, xml = await _solicited(embedded, idp, sign_response=signed_response)
    # Every variant needs a second assertion; python3-saml's own refusals are shown apart
    # (test_signature_wrapping_is_refused_by_python3_saml_alone).
    await _refused(
        browser, embedded, etree.tostring(wrap(parse(xml))), "exactly one assertion is required"
    )


async def test_comment_injected_into_the_nameid(embedded: SsoStack) -> None:
    """The IdP signed ``admin@example.com.evil.org``; a comment would make naive readers see
    ``admin@example.com``. The signature (exclusive c14n) ignores comments, so only refusing
    comments protects the reader."""
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp, name_id=EVIL + ".evil.org")
    root = parse(xml)
    nameid = root.find(".//saml:Subject/saml:NameID", namespaces=NS)
    nameid.text = EVIL
    comment = etree.Comment("")
    comment.tail = ".evil.org"
    nameid.append(comment)
    await _refused(browser, embedded, etree.tostring(root), "comments and processing instructions")


async def test_replayed_response(embedded: SsoStack) -> None:
    idp = await _setup(embedded, idp_initiated=True)
    entity_id, acs = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    first = await embedded.browser().post(acs, data={"SAMLResponse": encoded})
    assert first.status == 303
    await _refused(embedded.browser(), embedded, encoded, "replayed assertion")


async def test_solicited_response_replayed_in_the_same_browser(embedded: SsoStack) -> None:
    """A solicited response posted again. The login clears the request binding, so a plain
    second POST is refused as unsolicited; with the login cookie restored (an attacker who
    captured both), the replay cache is what refuses it."""
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    _, acs = embedded.sp("acme")
    where = URL(embedded.base + "/sso/acme/saml/")
    login_cookie = browser.session.cookie_jar.filter_cookies(where)
    assert (await browser.post(acs, data={"SAMLResponse": encode(xml)})).status == 303
    await browser.get("/sso/logout")
    await _refused(browser, embedded, xml, "unsolicited response")
    browser.session.cookie_jar.update_cookies(login_cookie, where)
    await _refused(browser, embedded, xml, "replayed assertion")


async def test_unsolicited_response_without_opt_in(embedded: SsoStack) -> None:
    idp = await _setup(embedded, idp_initiated=False)
    entity_id, acs = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    await _refused(embedded.browser(), embedded, encoded, "IdP-initiated login is off")


async def test_response_to_another_browsers_request(embedded: SsoStack) -> None:
    idp = await _setup(embedded, idp_initiated=True)
    _, xml = await _solicited(embedded, idp)  # the victim's browser started this one
    await _refused(
        embedded.browser(), embedded, xml, "response to a request this browser did not make"
    )


async def test_assertion_for_another_tenants_audience(embedded: SsoStack) -> None:
    idp = await _setup(embedded, idp_initiated=True)
    globex_entity, _ = embedded.sp("globex")
    _, acme_acs = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=globex_entity,
        acs_url=acme_acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    await _refused(embedded.browser(), embedded, encoded, "audience")


async def test_wrong_destination(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    _, acs = embedded.sp("acme")
    root.set("Destination", acs + "/../../../globex/saml/acs")
    await _refused(browser, embedded, etree.tostring(root), "is not our ACS URL")
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    root.set("Destination", acs.replace("/acs", "/acs-other"))
    await _refused(browser, embedded, etree.tostring(root), "is not our ACS URL")


async def test_wrong_recipient_signed_by_the_idp(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    data = root.find(".//saml:SubjectConfirmationData", namespaces=NS)
    data.set("Recipient", data.get("Recipient") + "?x")  # a superstring: substring checks pass
    await _refused(
        browser, embedded, resign(root, idp.keys), "no bearer SubjectConfirmation for our ACS URL"
    )


def _saml_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_expired_assertion(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    past = _saml_time(datetime.now(UTC) - timedelta(minutes=10))
    root.find(".//saml:SubjectConfirmationData", namespaces=NS).set("NotOnOrAfter", past)
    root.find(".//saml:Conditions", namespaces=NS).set("NotOnOrAfter", past)
    await _refused(browser, embedded, resign(root, idp.keys), "expired")


async def test_assertion_expired_within_python3_saml_drift(embedded: SsoStack) -> None:
    """Conditions ended 3 minutes ago: python3-saml allows 300 s of drift, our skew is 90 s,
    so only our own check refuses it."""
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    past = _saml_time(datetime.now(UTC) - timedelta(minutes=3))
    root.find(".//saml:Conditions", namespaces=NS).set("NotOnOrAfter", past)
    await _refused(browser, embedded, resign(root, idp.keys), "SAML: assertion expired")


async def test_not_yet_valid_assertion(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    future = _saml_time(datetime.now(UTC) + timedelta(minutes=4))  # inside python3-saml's 300 s
    root.find(".//saml:Conditions", namespaces=NS).set("NotBefore", future)
    await _refused(browser, embedded, resign(root, idp.keys), "assertion not yet valid")


async def test_missing_not_on_or_after(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    del root.find(".//saml:SubjectConfirmationData", namespaces=NS).attrib["NotOnOrAfter"]
    await _refused(
        browser,
        embedded,
        resign(root, idp.keys),
        "SubjectConfirmationData NotOnOrAfter is required",
    )


async def test_rsa_sha1_signature(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    await _refused(
        browser,
        embedded,
        resign(parse(xml), idp.keys, sign_alg=RSA_SHA1, digest_alg=SHA1),
        "signature method 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' is not allowed",
    )


async def test_sha1_digest_under_an_rsa_sha256_signature(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    await _refused(
        browser,
        embedded,
        resign(parse(xml), idp.keys, digest_alg=SHA1),
        "digest method 'http://www.w3.org/2000/09/xmldsig#sha1' is not allowed",
    )


async def test_attacker_certificate_in_keyinfo(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    attacker = Keys.make(embedded.tmp / "attacker", "attacker")
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    root.find(".//saml:Subject/saml:NameID", namespaces=NS).text = EVIL
    await _refused(browser, embedded, resign(root, attacker), "Signature validation failed")


async def test_xxe(embedded: SsoStack, tmp_path: Any) -> None:
    idp = await _setup(embedded)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    browser, xml = await _solicited(embedded, idp)
    text = xml.decode()
    doctype = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    text = text.replace("ada@example.com</", "&xxe;</", 1)
    body = text.split("?>", 1)[1] if text.startswith("<?xml") else text
    await _refused(browser, embedded, (doctype + body).encode(), "DTDs are not allowed")


async def test_billion_laughs(embedded: SsoStack) -> None:
    await _setup(embedded)
    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY l0 "lol">{lol}]>'
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&l9;</samlp:Response>'
    )
    started = time.monotonic()
    await _refused(embedded.browser(), embedded, bomb.encode(), "DTDs are not allowed")
    assert time.monotonic() - started < 5


async def test_deflate_bomb() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<" + b"A" * (64 * 1024 * 1024)) + bomb.flush()
    value = base64.b64encode(data).decode()
    assert len(data) < 100_000
    with pytest.raises(SamlError, match="too large"):
        decode_redirect(value, max_bytes=256 * 1024)


async def test_deflate_bomb_at_the_logout_endpoint(embedded: SsoStack) -> None:
    # 4 MB inflated from ~4 kB: small enough for a URL (a 64 MB bomb makes a URL longer than
    # aiohttp's 8 kB request line, refused before sso-login ever sees it), 16 times the bound.
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"<" + b"A" * (4 * 1024 * 1024)) + bomb.flush()
    assert len(base64.b64encode(data)) < 7000
    answer = await embedded.browser().get(
        "/sso/logout", params={"SAMLRequest": base64.b64encode(data).decode()}
    )
    assert answer.status == 400
    embedded.refusals.assert_reason(await answer.text(), "inflated message too large")


async def test_oversized_post_body(embedded: SsoStack) -> None:
    await _setup(embedded)
    _, acs = embedded.sp("acme")
    answer = await embedded.browser().post(acs, data={"SAMLResponse": "A" * (600 * 1024)})
    assert answer.status == 400
    embedded.refusals.assert_reason(await answer.text(), "body too large")


@pytest.mark.parametrize(
    "relay",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "javascript:alert(1)",
        "https://roster.example.com.evil.example/",
    ],
)
async def test_open_redirect_through_relay_state(embedded: SsoStack, relay: str) -> None:
    idp = await _setup(embedded, idp_initiated=True, relay_state_allow=["https://app.example.com/"])
    entity_id, acs = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    await _refused(embedded.browser(), embedded, encoded, "unsafe RelayState", RelayState=relay)
    start = await embedded.browser().get("/sso/acme/saml/login", params={"return_to": relay})
    assert start.status == 400
    embedded.refusals.assert_reason(await start.text(), "points somewhere we do not send people")


@pytest.mark.parametrize("relay", ["/app/home?x=1", "https://app.example.com/dashboard"])
async def test_safe_relay_state_is_followed(embedded: SsoStack, relay: str) -> None:
    idp = await _setup(embedded, idp_initiated=True, relay_state_allow=["https://app.example.com/"])
    entity_id, acs = embedded.sp("acme")
    encoded = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes=ATTRS,
    )
    answer = await embedded.browser().post(acs, data={"SAMLResponse": encoded, "RelayState": relay})
    assert answer.status == 303
    assert answer.headers["Location"] == relay


@pytest.mark.parametrize("wrap", [xsw1, xsw2, xsw3, xsw4, xsw5, xsw6, xsw7, xsw8])
async def test_signature_wrapping_is_refused_by_python3_saml_alone(
    embedded: SsoStack, wrap: Callable[..., Any]
) -> None:
    """Defence in depth: without our one-assertion precheck, python3-saml (strict) still
    refuses every wrapping variant, or at least never reads the attacker's NameID."""
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from sso_login.connections import SamlConnection
    from sso_login.saml import onelogin_settings, sp_urls

    idp = await _setup(embedded)
    urls = sp_urls(embedded.base, "acme")
    connection = SamlConnection.model_validate(parse_idp_metadata(idp.metadata()).model_dump())
    xml = idp.response_xml(
        sp_entity_id=urls.entity_id,
        acs_url=urls.acs_url,
        name_id="ada@example.com",
        in_response_to="_req1",
        attributes=ATTRS,
        sign_response=wrap in (xsw1, xsw2),
    )
    forged = etree.tostring(wrap(parse(xml)))
    settings = onelogin_settings(urls, connection)
    request_data = {
        "https": "off",
        "http_host": urls.acs_url.split("/")[2],
        "script_name": "/sso/acme/saml/acs",
        "get_data": {},
        "post_data": {},
    }
    try:
        response = OneLogin_Saml2_Response(settings, encode(forged))
        valid = response.is_valid(request_data, request_id="_req1", raise_exceptions=False)
        name_id = response.get_nameid() if valid else None
    except Exception:
        valid, name_id = False, None
    assert not valid or name_id != EVIL


async def test_signing_key_rollover(embedded: SsoStack) -> None:
    """Two certificates during a rollover: a response signed with either is accepted, one
    signed with a key that is neither is not."""
    idp = await _setup(embedded)
    old = Keys.make(embedded.tmp / "old", "old")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    connection["signing_certs"] = [old.cert_b64, *connection["signing_certs"]]
    await embedded.configure("acme", {"saml": connection})
    browser, xml = await _solicited(embedded, idp)
    _, acs = embedded.sp("acme")
    assert (await browser.post(acs, data={"SAMLResponse": encode(xml)})).status == 303
    browser, xml = await _solicited(embedded, idp)
    resigned_old = resign(parse(xml), old)
    assert (await browser.post(acs, data={"SAMLResponse": encode(resigned_old)})).status == 303
    browser, xml = await _solicited(embedded, idp)
    stranger = Keys.make(embedded.tmp / "stranger", "stranger")
    await _refused(browser, embedded, resign(parse(xml), stranger), "Signature validation failed")


async def test_every_audience_restriction_must_name_us(embedded: SsoStack) -> None:
    """Two AudienceRestriction elements mean both apply: one naming another SP is refused."""
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    conditions = root.find(".//saml:Conditions", namespaces=NS)
    extra = etree.SubElement(conditions, f"{{{NS['saml']}}}AudienceRestriction")
    etree.SubElement(extra, f"{{{NS['saml']}}}Audience").text = "https://other-sp.example/"
    await _refused(
        browser,
        embedded,
        resign(root, idp.keys),
        "audience ['https://other-sp.example/'] is not ours",
    )


async def test_missing_audience_restriction(embedded: SsoStack) -> None:
    idp = await _setup(embedded)
    browser, xml = await _solicited(embedded, idp)
    root = parse(xml)
    conditions = root.find(".//saml:Conditions", namespaces=NS)
    for restriction in conditions.findall("saml:AudienceRestriction", namespaces=NS):
        conditions.remove(restriction)
    await _refused(browser, embedded, resign(root, idp.keys), "no AudienceRestriction")
