"""Encrypted assertions: the SP key is offered in the metadata, an assertion the IdP signed and
then encrypted to it signs the person in, and a tenant may require encryption."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from roster_shared.tenants import ProvisioningMode
from sso_login.saml import parse_idp_metadata

from tests.sso.saml_idp import (
    ENVELOPED,
    NS,
    Keys,
    assertion_of,
    encode,
    encrypt_assertion,
    parse,
    sign_element,
    signature_template,
    xslt_bomb,
)
from tests.sso.stack import SsoStack, open_stack, saml_request_id

ATTRS = {"mail": ["ada@example.com"]}
XSLT = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC_NS = {"xenc": XENC}


@pytest.fixture
async def stack(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SsoStack]:
    keys = Keys.make(tmp_path / "sp", "sp")
    opened = await open_stack("memory-sqlite", tmp_path, request, sp_keys=keys)
    yield opened
    await opened.stop()


async def _connect(stack: SsoStack, **options: object) -> object:
    await stack.tenant("acme", ProvisioningMode.JIT)
    idp = await stack.saml_idp("acme")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    await stack.configure("acme", {"saml": {**connection, **options}})
    return idp


async def _post(stack: SsoStack, idp: object, *, encrypt: bool, tamper: bool = False) -> object:
    browser = stack.browser()
    start = await browser.get("/sso/acme/saml/login")
    request_id, acs = saml_request_id(idp, start.headers["Location"])  # type: ignore[arg-type]
    entity_id, _ = stack.sp("acme")
    xml = idp.response_xml(  # type: ignore[attr-defined]
        sp_entity_id=entity_id,
        acs_url=acs,
        name_id="ada@example.com",
        in_response_to=request_id,
        attributes=ATTRS,
    )
    root = parse(xml)
    if tamper:
        root.find(".//saml:Subject/saml:NameID", namespaces=NS).text = "admin@example.com"
    if encrypt:
        assert stack.sp_keys is not None
        xml = encrypt_assertion(root, stack.sp_keys.cert_file)
    else:
        xml = etree.tostring(root)
    return await browser.post(acs, data={"SAMLResponse": encode(xml)})


async def test_metadata_offers_the_encryption_key(stack: SsoStack) -> None:
    await stack.tenant("acme", ProvisioningMode.JIT)
    metadata = await stack.sp_metadata("acme")
    assert 'use="encryption"' in metadata
    assert stack.sp_keys is not None and stack.sp_keys.cert_b64[:40] in metadata


async def test_encrypted_assertion_signs_in(stack: SsoStack) -> None:
    idp = await _connect(stack)
    answer = await _post(stack, idp, encrypt=True)
    assert answer.status == 303, await answer.text()  # type: ignore[attr-defined]


async def test_tampered_encrypted_assertion_is_refused(stack: SsoStack) -> None:
    """Encryption is not integrity: the signature inside must still hold."""
    idp = await _connect(stack)
    answer = await _post(stack, idp, encrypt=True, tamper=True)
    assert answer.status == 400  # type: ignore[attr-defined]
    page = await answer.text()  # type: ignore[attr-defined]
    stack.refusals.assert_reason(page, "Signature validation failed")


async def test_tenant_requiring_encryption_refuses_plain_assertions(stack: SsoStack) -> None:
    idp = await _connect(stack, require_encryption=True)
    plain = await _post(stack, idp, encrypt=False)
    assert plain.status == 400  # type: ignore[attr-defined]
    page = await plain.text()  # type: ignore[attr-defined]
    stack.refusals.assert_reason(page, "encrypted")
    assert (await _post(stack, idp, encrypt=True)).status == 303  # type: ignore[attr-defined]


async def _encrypted_forgery(stack: SsoStack, idp: Any, edit: Any) -> Any:
    """A solicited response whose assertion ``edit`` changes, then encrypted to the SP."""
    browser = stack.browser()
    start = await browser.get("/sso/acme/saml/login")
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    entity_id, _ = stack.sp("acme")
    root = parse(
        idp.response_xml(
            sp_entity_id=entity_id,
            acs_url=acs,
            name_id="ada@example.com",
            in_response_to=request_id,
            attributes=ATTRS,
        )
    )
    edit(root)
    assert stack.sp_keys is not None
    xml = encrypt_assertion(root, stack.sp_keys.cert_file)
    return await browser.post(acs, data={"SAMLResponse": encode(xml)})


async def test_transform_inside_an_encrypted_assertion_is_refused_before_verification(
    stack: SsoStack,
) -> None:
    """The allow-list also applies to the decrypted assertion, before its signature is
    checked — the IdP's own key signing an XSLT transform does not get it run."""
    idp: Any = await _connect(stack)

    def xslt_signed(root: Any) -> None:
        assertion = assertion_of(root)
        signature_template(assertion, transforms=(ENVELOPED, (XSLT, xslt_bomb(4))))
        sign_element(root, assertion, idp.keys)

    answer = await _encrypted_forgery(stack, idp, xslt_signed)
    assert answer.status == 400
    stack.refusals.assert_reason(
        await answer.text(), f"signature transform {XSLT!r} is not allowed"
    )


async def test_cipher_reference_is_refused_before_decryption(stack: SsoStack) -> None:
    """An EncryptedData whose cipher text is "fetched" through a CipherReference with
    transforms: refused on sight, nothing is decrypted or fetched."""
    await stack.tenant("acme", ProvisioningMode.JIT)
    idp: Any = await stack.saml_idp("acme")
    connection = parse_idp_metadata(idp.metadata()).model_dump(mode="json")
    await stack.configure("acme", {"saml": connection})
    browser = stack.browser()
    start = await browser.get("/sso/acme/saml/login")
    request_id, acs = saml_request_id(idp, start.headers["Location"])
    entity_id, _ = stack.sp("acme")
    root = parse(
        idp.response_xml(
            sp_entity_id=entity_id,
            acs_url=acs,
            name_id="ada@example.com",
            in_response_to=request_id,
            attributes=ATTRS,
        )
    )
    assert stack.sp_keys is not None
    root = parse(encrypt_assertion(root, stack.sp_keys.cert_file))
    data = root.find(".//xenc:EncryptedData/xenc:CipherData", namespaces=XENC_NS)
    for child in list(data):
        data.remove(child)
    reference = etree.SubElement(
        data, f"{{{XENC}}}CipherReference", URI="http://evil.example/cipher"
    )
    transforms = etree.SubElement(reference, f"{{{XENC}}}Transforms")
    etree.SubElement(transforms, f"{{{NS['ds']}}}Transform", Algorithm=XSLT).append(xslt_bomb(4))
    answer = await browser.post(acs, data={"SAMLResponse": encode(etree.tostring(root))})
    assert answer.status == 400
    stack.refusals.assert_reason(await answer.text(), "xenc:CipherReference is not allowed")
