"""Units of the SAML guards: the signature allow-list accepts what real IdPs send, and the
bounded pool runs work off the loop, refuses when full and enforces its budget."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web
from lxml import etree
from sso_login.saml.xmldsig import SignatureNotAllowed, check_signatures
from sso_login.workers import Busy, OverBudget, XmlWorkers

# The shape of Okta's signed assertion (developer.okta.com, "SAML assertion" examples), which
# also carries an InclusiveNamespaces PrefixList on its exclusive c14n transform.
OKTA = b"""<saml2p:Response xmlns:saml2p="urn:oasis:names:tc:SAML:2.0:protocol" ID="id1"
 Version="2.0"><saml2:Assertion xmlns:saml2="urn:oasis:names:tc:SAML:2.0:assertion" ID="id2"
 Version="2.0"><saml2:Issuer>http://www.okta.com/exk</saml2:Issuer>
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI="#id2"><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces
 xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>
</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>
<ds:SignatureValue>AAAA</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature></saml2:Assertion>
</saml2p:Response>"""


def test_okta_shaped_signature_is_allowed() -> None:
    assert check_signatures(etree.fromstring(OKTA)) == 1


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b'PrefixList="xs"/>', b'PrefixList="xs"><x/></ec:InclusiveNamespaces>', "in a transform"),
        (b'URI="#id2"', b'URI="#id1"', "is not the signed element's ID"),
        (b"rsa-sha256", b"rsa-sha1", "signature method"),
        (b"<ds:X509Data>", b"<ds:EncryptedKey/><ds:X509Data>", "in KeyInfo"),
    ],
)
def test_variants_are_refused(old: bytes, new: bytes, reason: str) -> None:
    with pytest.raises(SignatureNotAllowed, match=reason):
        check_signatures(etree.fromstring(OKTA.replace(old, new, 1)))


async def _running(workers: XmlWorkers) -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(workers.lifecycle)
    return app


async def test_work_runs_off_the_loop() -> None:
    workers = XmlWorkers(threads=1, max_pending=1, budget=5)
    app = await _running(workers)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        ticker = asyncio.create_task(tick())
        assert await workers.run(time.sleep, 0.2) is None  # blocking call, in the pool
        ticker.cancel()
        assert ticks >= 10  # the loop kept turning meanwhile
    finally:
        await runner.cleanup()


async def test_full_pool_refuses_and_budget_is_enforced() -> None:
    workers = XmlWorkers(threads=1, max_pending=1, budget=0.1)
    runner = web.AppRunner(await _running(workers))
    await runner.setup()
    release = threading.Event()
    try:
        with pytest.raises(OverBudget, match=r"time budget of 0\.1 s"):
            await workers.run(release.wait, 5)
        # The timed-out job still runs in its thread: its slot is still taken.
        assert workers.pending == 1
        with pytest.raises(Busy, match="limit 1"):
            await workers.run(time.sleep, 0)
        release.set()
        while workers.pending:
            await asyncio.sleep(0.01)
        assert await workers.run(sum, [1, 2]) == 3
    finally:
        release.set()
        await runner.cleanup()


async def test_exceptions_propagate() -> None:
    workers = XmlWorkers(threads=1, max_pending=2, budget=1)
    runner = web.AppRunner(await _running(workers))
    await runner.setup()
    try:
        with pytest.raises(ZeroDivisionError):
            await workers.run(divmod, 1, 0)
        assert workers.pending == 0
    finally:
        await runner.cleanup()
