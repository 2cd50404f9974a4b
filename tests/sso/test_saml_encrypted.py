"""Encrypted assertions: the SP key is offered in the metadata, an assertion the IdP signed and
then encrypted to it signs the person in, and a tenant may require encryption."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lxml import etree
from roster_shared.tenants import ProvisioningMode
from sso_login.saml import parse_idp_metadata

from tests.sso.saml_idp import NS, Keys, encode, encrypt_assertion, parse
from tests.sso.stack import SsoStack, open_stack, saml_request_id

ATTRS = {"mail": ["ada@example.com"]}


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
