"""Signatures that ask xmlsec for more than a genuine IdP's do, sent as an attacker would: an
unsolicited response signed with the attacker's own key, valid byte for byte, whose
``ds:Signature`` names an XSLT or XPath transform, another digest or c14n, a second
Reference, a ``ds:Object``... (issue 8, finding 3).

xmlsec runs transforms and digests before it finds the key wrong, so "refused" is not enough:
each test asserts the allow-list's own reason, which is logged before any signature work —
proof the transform never ran. The last test removes the allow-list to show the second line of
defence: validation runs in a bounded pool off the event loop, with a time budget.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import xmlsec
from lxml import etree
from roster_shared.tenants import ProvisioningMode
from sso_login.keys import CONTEXT
from sso_login.saml import parse_idp_metadata

from tests.sso.saml_idp import (
    DS,
    ENVELOPED,
    EXC_C14N,
    NS,
    Keys,
    SamlIdP,
    Transform,
    assertion_of,
    encode,
    parse,
    sign_element,
    signature_template,
    xslt_bomb,
)
from tests.sso.stack import SsoStack, open_stack

ATTRS = {"mail": ["admin@example.com"]}
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
BASE64 = "http://www.w3.org/2000/09/xmldsig#base64"
INCLUSIVE_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
HMAC_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"


async def _setup(stack: SsoStack, *, idp_initiated: bool = False) -> SamlIdP:
    await stack.tenant("acme", ProvisioningMode.JIT)
    idp = await stack.saml_idp("acme")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    connection["allow_idp_initiated"] = idp_initiated
    await stack.configure("acme", {"saml": connection})
    return idp


Edit = Callable[[etree._Element, etree._Element], None]
"""Changes (root, signature) — before signing when passed as ``before``, after as ``after``."""


def _forged(
    stack: SsoStack,
    idp: SamlIdP,
    attacker: Keys,
    *,
    on: str = "assertion",
    transforms: tuple[Transform, ...] = (ENVELOPED, EXC_C14N),
    key: xmlsec.Key | None = None,
    before: Edit | None = None,
    after: Edit | None = None,
    **algorithms: str,
) -> bytes:
    """An unsolicited response for acme, its assertion (or the Response) signed by the
    attacker's key with the signature they chose."""
    entity_id, acs = stack.sp("acme")
    root = parse(
        idp.response_xml(
            sp_entity_id=entity_id,
            acs_url=acs,
            name_id="admin@example.com",
            in_response_to=None,
            attributes=ATTRS,
        )
    )
    element = root if on == "response" else assertion_of(root)
    signature = signature_template(element, transforms=transforms, **algorithms)
    if before is not None:
        before(root, signature)
    sign_element(root, element, attacker, key=key)
    if after is not None:
        after(root, signature)
    return etree.tostring(root)


async def _refused(stack: SsoStack, payload: bytes, reason: str) -> None:
    _, acs = stack.sp("acme")
    browser = stack.browser()
    answer = await browser.post(acs, data={"SAMLResponse": encode(payload)})
    assert answer.status == 400, await answer.text()
    assert "roster_session" not in answer.cookies
    stack.refusals.assert_reason(await answer.text(), reason)


def _xpath(expression: str) -> etree._Element:
    node = etree.Element(f"{{{DS}}}XPath", nsmap={"ds": DS})
    node.text = expression
    return node


def _filter2(expression: str) -> etree._Element:
    node = etree.Element(f"{{{FILTER2}}}XPath", nsmap={"f": FILTER2, "ds": DS}, Filter="subtract")
    node.text = expression
    return node


def _second_reference(root: etree._Element, signature: etree._Element) -> None:
    info = signature.find("ds:SignedInfo", namespaces=NS)
    info.append(copy.deepcopy(info.find("ds:Reference", namespaces=NS)))


def _whole_document_reference(root: etree._Element, signature: etree._Element) -> None:
    signature.find(".//ds:Reference", namespaces=NS).set("URI", "")


def _object_with_manifest(root: etree._Element, signature: etree._Element) -> None:
    holder = etree.SubElement(signature, f"{{{DS}}}Object")
    manifest = etree.SubElement(holder, f"{{{DS}}}Manifest")
    reference = etree.SubElement(manifest, f"{{{DS}}}Reference", URI="http://evil.example/x")
    etree.SubElement(reference, f"{{{DS}}}DigestMethod", Algorithm=EXC_C14N)


def _retrieval_method(root: etree._Element, signature: etree._Element) -> None:
    key_info = signature.find("ds:KeyInfo", namespaces=NS)
    etree.SubElement(key_info, f"{{{DS}}}RetrievalMethod", URI="http://evil.example/key")


def _signature_in_the_subject(root: etree._Element, signature: etree._Element) -> None:
    subject = root.find(".//saml:Subject", namespaces=NS)
    subject.append(copy.deepcopy(signature))


def _two_more_signatures(root: etree._Element, signature: etree._Element) -> None:
    _signature_in_the_subject(root, signature)
    _signature_in_the_subject(root, signature)


VECTORS = [
    pytest.param(
        {"transforms": (ENVELOPED, (XSLT, xslt_bomb(18)))},
        f"signature transform {XSLT!r} is not allowed",
        id="xslt-bomb-on-the-assertion",
    ),
    pytest.param(
        {"on": "response", "transforms": (ENVELOPED, (XSLT, xslt_bomb(18)))},
        f"signature transform {XSLT!r} is not allowed",
        id="xslt-bomb-on-the-response",
    ),
    pytest.param(
        {
            "transforms": (
                (XPATH, _xpath("not(ancestor-or-self::*[local-name()='Signature'])")),
                EXC_C14N,
            )
        },
        f"signature transform {XPATH!r} is not allowed",
        id="xpath",
    ),
    pytest.param(
        {"transforms": ((FILTER2, _filter2("//*[local-name()='Signature']")), EXC_C14N)},
        f"signature transform {FILTER2!r} is not allowed",
        id="xpath-filter-2",
    ),
    pytest.param(
        {"transforms": (ENVELOPED, EXC_C14N_COMMENTS)},
        f"signature transform {EXC_C14N_COMMENTS!r} is not allowed",
        id="exc-c14n-with-comments",
    ),
    pytest.param(
        {"transforms": (ENVELOPED, EXC_C14N, EXC_C14N)},
        "at most 2 transforms",
        id="three-transforms",
    ),
    pytest.param(
        {"c14n": INCLUSIVE_C14N},
        f"canonicalization method {INCLUSIVE_C14N!r} is not allowed",
        id="inclusive-c14n",
    ),
    pytest.param(
        {"digest_alg": "http://www.w3.org/2001/04/xmldsig-more#sha224"},
        "digest method 'http://www.w3.org/2001/04/xmldsig-more#sha224' is not allowed",
        id="sha224-digest",
    ),
    pytest.param(
        {
            "sign_alg": HMAC_SHA256,
            "key": xmlsec.Key.from_binary_data(xmlsec.constants.KeyDataHmac, b"k" * 32),
        },
        f"signature method {HMAC_SHA256!r} is not allowed",
        id="hmac-sha256",
    ),
    pytest.param(
        {"before": _second_reference},
        "exactly one Reference, this one has 2",
        id="two-references",
    ),
    pytest.param(
        {"before": _whole_document_reference},
        "Reference URI '' is not the signed element's ID",
        id="whole-document-reference",
    ),
    pytest.param({"after": _object_with_manifest}, "ds:Object is not allowed", id="object"),
    pytest.param(
        {"after": _retrieval_method}, "ds:RetrievalMethod is not allowed", id="retrieval-method"
    ),
    pytest.param(
        {"after": _signature_in_the_subject},
        "a signature outside a Response or Assertion",
        id="signature-in-the-subject",
    ),
    pytest.param({"after": _two_more_signatures}, "at most 2 signatures", id="three-signatures"),
]


@pytest.mark.parametrize(("forge", "reason"), VECTORS)
async def test_signature_outside_the_allow_list(
    embedded: SsoStack, forge: dict[str, Any], reason: str
) -> None:
    idp = await _setup(embedded)
    attacker = Keys.make(embedded.tmp / "attacker", "attacker")
    await _refused(embedded, _forged(embedded, idp, attacker, **forge), reason)


async def test_the_real_idp_key_does_not_make_a_transform_acceptable(embedded: SsoStack) -> None:
    """Not only strangers: the IdP's own key signing an XPath transform is refused too."""
    idp = await _setup(embedded, idp_initiated=True)
    payload = _forged(
        embedded, idp, idp.keys, transforms=((XPATH, _xpath("true()")), ENVELOPED, EXC_C14N)
    )
    await _refused(embedded, payload, "at most 2 transforms")
    payload = _forged(embedded, idp, idp.keys, transforms=((XPATH, _xpath("true()")), EXC_C14N))
    await _refused(embedded, payload, f"signature transform {XPATH!r} is not allowed")


async def test_xslt_bomb_leaves_the_service_responsive(embedded: SsoStack) -> None:
    """Ten bombs at once and a request of another kind beside them: all answered, each bomb
    for the transform — it never ran, neither on the loop nor in a worker."""
    idp = await _setup(embedded)
    attacker = Keys.make(embedded.tmp / "attacker", "attacker")
    bomb = _forged(embedded, idp, attacker, transforms=(ENVELOPED, (XSLT, xslt_bomb(18))))
    assert len(bomb) < 8 * 1024
    _, acs = embedded.sp("acme")
    browsers = [embedded.browser() for _ in range(10)]
    answers = await asyncio.gather(
        *(b.post(acs, data={"SAMLResponse": encode(bomb)}) for b in browsers),
        embedded.browser().get("/sso/acme/saml/metadata"),
    )
    *bombs, metadata = answers
    assert metadata.status == 200
    for answer in bombs:
        assert answer.status == 400
        embedded.refusals.assert_reason(await answer.text(), "REC-xslt-19991116' is not allowed")


@pytest.fixture
async def unguarded(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SsoStack]:
    """The embedded stack with the allow-list switched off, one validation thread, one slot
    and a 0.5 s budget: what is left when the first line of defence is gone."""
    monkeypatch.setattr("sso_login.saml.response.check_signatures", lambda document: 0)
    opened = await open_stack(
        "memory-sqlite",
        tmp_path,
        request,
        sso_settings={"saml_workers": 1, "saml_max_pending": 1, "saml_time_budget": 0.5},
    )
    yield opened
    await opened.stop()


@pytest.mark.slow  # seconds of xmlsec work on purpose
async def test_without_the_allow_list_the_bomb_runs_off_the_loop_within_a_budget(
    unguarded: SsoStack,
) -> None:
    idp = await _setup(unguarded, idp_initiated=True)
    attacker = Keys.make(unguarded.tmp / "attacker", "attacker")
    # Signed over a one-level stylesheet, then swapped for 2**24 template calls (seconds of
    # xmlsec work): the digest no longer matches, but xmlsec runs the transform to find out.
    cheap = xslt_bomb(1)
    bomb = parse(_forged(unguarded, idp, attacker, transforms=(ENVELOPED, (XSLT, cheap))))
    sheet = bomb.find(".//ds:Transform/*", namespaces=NS)
    sheet.getparent().replace(sheet, xslt_bomb(24))
    workers = unguarded.sso_app[CONTEXT].xml_workers  # type: ignore[index]
    _, acs = unguarded.sp("acme")

    posted = asyncio.create_task(
        unguarded.browser().post(acs, data={"SAMLResponse": encode(etree.tostring(bomb))})
    )
    while workers.pending == 0:
        await asyncio.sleep(0.005)
    # The loop is free while xmlsec works: another request is answered meanwhile...
    assert (await unguarded.browser().get("/sso/session")).status == 401
    # ...and a second SAML response finds the only slot taken: refused at once, not queued.
    entity_id, _ = unguarded.sp("acme")
    genuine = idp.response(
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=None,
        attributes={"mail": ["ada@example.com"]},
    )
    busy = await unguarded.browser().post(acs, data={"SAMLResponse": genuine})
    assert busy.status == 503
    unguarded.refusals.assert_reason(await busy.text(), "already pending")
    assert not posted.done()

    answer = await posted
    assert answer.status == 400
    unguarded.refusals.assert_reason(await answer.text(), "exceeded its time budget of 0.5 s")
    # The slot stays taken until the thread has really finished, then serves again.
    while workers.pending:
        await asyncio.sleep(0.05)
    again = await unguarded.browser().post(acs, data={"SAMLResponse": genuine})
    assert again.status == 303, await again.text()
