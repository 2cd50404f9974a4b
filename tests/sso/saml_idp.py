"""A SAML identity provider for tests: pysaml2's IdP server, an implementation independent of
python3-saml (our SP), issuing real signed responses.

pysaml2 signs through the ``xmlsec1`` command by default; CI machines do not have it, so its
crypto backend is swapped for one that signs with the ``xmlsec`` Python binding (libxmlsec1).
Building the response — conditions, audience, subject confirmation, attributes, the signature
template — stays pysaml2's.

For attack tests, :func:`resign` changes a signed response and signs it again with the IdP's
real key (a wrong field under a valid signature), and :class:`Keys` makes attacker keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

with warnings.catch_warnings():  # pysaml2 touches cryptography's deprecated CFB mode at import
    warnings.simplefilter("ignore")
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
    from saml2.config import IdPConfig
    from saml2.metadata import create_metadata_string
    from saml2.server import Server
    from saml2.sigver import CryptoBackend

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XSL = "http://www.w3.org/1999/XSL/Transform"


@dataclass
class Keys:
    """An RSA key and its self-signed certificate, as PEM files."""

    key_file: Path
    cert_file: Path

    @classmethod
    def make(cls, directory: Path, name: str) -> Keys:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        key_file, cert_file = directory / f"{name}.key", directory / f"{name}.crt"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(key_file, cert_file)

    @property
    def cert_b64(self) -> str:
        lines = self.cert_file.read_text().strip().splitlines()
        return "".join(line for line in lines if "-----" not in line)


def sign_element(
    root: etree._Element, element: etree._Element, keys: Keys, key: xmlsec.Key | None = None
) -> None:
    """Sign ``element`` (which holds a ds:Signature template) in place with ``keys`` (or with
    ``key``, e.g. an HMAC key)."""
    xmlsec.tree.add_ids(root, ["ID"])
    template = element.find("ds:Signature", namespaces=NS)
    if template is None:
        raise ValueError("no signature template")
    context = xmlsec.SignatureContext()
    if key is None:
        key = xmlsec.Key.from_file(str(keys.key_file), xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_file(str(keys.cert_file), xmlsec.constants.KeyDataFormatPem)
    context.key = key
    context.sign(template)


Transform = str | tuple[str, etree._Element]
"""A transform's Algorithm, or the Algorithm and the one child element it takes."""


def signature_template(
    element: etree._Element,
    *,
    c14n: str = EXC_C14N,
    sign_alg: str = RSA_SHA256,
    digest_alg: str = SHA256,
    transforms: tuple[Transform, ...] = (ENVELOPED, EXC_C14N),
) -> etree._Element:
    """A ds:Signature template over ``element`` naming whatever algorithms it is told, as an
    attacker writes one by hand, placed after the element's Issuer; xmlsec then signs it."""

    def ds(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{DS}}}{name}", **attrs)

    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = ds(signature, "SignedInfo")
    ds(info, "CanonicalizationMethod", Algorithm=c14n)
    ds(info, "SignatureMethod", Algorithm=sign_alg)
    reference = ds(info, "Reference", URI="#" + element.get("ID"))
    holder = ds(reference, "Transforms")
    for transform in transforms:
        algorithm, child = transform if isinstance(transform, tuple) else (transform, None)
        node = ds(holder, "Transform", Algorithm=algorithm)
        if child is not None:
            node.append(child)
    ds(reference, "DigestMethod", Algorithm=digest_alg)
    ds(reference, "DigestValue")
    ds(signature, "SignatureValue")
    ds(ds(signature, "KeyInfo"), "X509Data")
    old = element.find("ds:Signature", namespaces=NS)
    if old is not None:
        element.remove(old)
    element.find("saml:Issuer", namespaces=NS).addnext(signature)
    return signature


def xslt_bomb(levels: int) -> etree._Element:
    """An XSLT stylesheet making 2**levels template calls: each template calls the next twice."""
    sheet = etree.Element(f"{{{XSL}}}stylesheet", nsmap={"xsl": XSL}, version="1.0")
    start = etree.SubElement(sheet, f"{{{XSL}}}template", match="/")
    etree.SubElement(start, f"{{{XSL}}}call-template", name="t0")
    for level in range(levels):
        template = etree.SubElement(sheet, f"{{{XSL}}}template", name=f"t{level}")
        etree.SubElement(template, f"{{{XSL}}}call-template", name=f"t{level + 1}")
        etree.SubElement(template, f"{{{XSL}}}call-template", name=f"t{level + 1}")
    etree.SubElement(sheet, f"{{{XSL}}}template", name=f"t{levels}").text = "x"
    return sheet


class XmlsecBindingBackend(CryptoBackend):
    """pysaml2's signing hook, done with the xmlsec Python binding instead of ``xmlsec1``."""

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

    @property
    def version(self) -> str:
        return "1.3"

    def sign_statement(self, statement: Any, node_name: str, key_file: str, node_id: str) -> str:
        data = statement.encode() if isinstance(statement, str) else statement
        root = etree.fromstring(data)
        element = root if root.get("ID") == node_id else root.xpath("//*[@ID=$id]", id=node_id)[0]
        sign_element(root, element, self._keys)
        return etree.tostring(root).decode()


class SamlIdP:
    """pysaml2's IdP with one signing key, trusting the SP metadata it is given."""

    def __init__(
        self,
        directory: Path,
        sp_metadata: list[str],
        *,
        entity_id: str = "https://idp.example.org/saml",
        sso_url: str = "https://idp.example.org/sso",
    ) -> None:
        self.keys = Keys.make(directory, "idp-" + uuid.uuid4().hex[:6])
        self.entity_id = entity_id
        self.sso_url = sso_url
        config = IdPConfig()
        config.load(
            {
                "entityid": entity_id,
                "key_file": str(self.keys.key_file),
                "cert_file": str(self.keys.cert_file),
                "crypto_backend": "XMLSecurity",
                "metadata": {"inline": sp_metadata},
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (sso_url, BINDING_HTTP_REDIRECT),
                                (sso_url, BINDING_HTTP_POST),
                            ]
                        },
                        "name_id_format": [saml.NAMEID_FORMAT_EMAILADDRESS],
                        "sign_response": False,
                        "sign_assertion": True,
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": 5},
                                "attribute_restrictions": None,
                                "name_form": saml.NAME_FORMAT_BASIC,
                            }
                        },
                    }
                },
            }
        )
        self.server = Server(config=config)
        self.server.sec.crypto = XmlsecBindingBackend(self.keys)

    def metadata(self) -> str:
        """The IdP's metadata XML (signing certificate, SSO endpoints)."""
        data = create_metadata_string(None, self.server.config, 4, None, None, None, None, None)
        return data.decode() if isinstance(data, bytes) else str(data)

    def response_xml(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        name_id: str,
        in_response_to: str | None,
        attributes: dict[str, list[str]] | None = None,
        sign_alg: str = RSA_SHA256,
        digest_alg: str = SHA256,
        sign_response: bool = False,
        name_id_format: str = saml.NAMEID_FORMAT_EMAILADDRESS,
    ) -> bytes:
        """A signed-assertion Response as the IdP would POST it."""
        nameid = saml.NameID(format=name_id_format, text=name_id)
        response = self.server.create_authn_response(
            identity=attributes or {},
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=sp_entity_id,
            name_id=nameid,
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            },
            sign_assertion=True,
            sign_response=sign_response,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )
        return str(response).encode()

    def response(self, **kwargs: Any) -> str:
        """Like :meth:`response_xml`, base64 as in the POST form."""
        return encode(self.response_xml(**kwargs))


def encode(xml: bytes) -> str:
    return base64.b64encode(xml).decode()


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def assertion_of(root: etree._Element) -> etree._Element:
    return root.find("saml:Assertion", namespaces=NS)


def resign(
    root: etree._Element,
    keys: Keys,
    *,
    sign_alg: str = RSA_SHA256,
    digest_alg: str = SHA256,
) -> bytes:
    """Replace the assertion's signature with a fresh one by ``keys`` over its current content."""
    assertion = assertion_of(root)
    old = assertion.find("ds:Signature", namespaces=NS)
    if old is not None:
        assertion.remove(old)
    method = {
        RSA_SHA256: xmlsec.constants.TransformRsaSha256,
        RSA_SHA1: xmlsec.constants.TransformRsaSha1,
    }[sign_alg]
    digest = {SHA256: xmlsec.constants.TransformSha256, SHA1: xmlsec.constants.TransformSha1}[
        digest_alg
    ]
    template = xmlsec.template.create(
        assertion, xmlsec.constants.TransformExclC14N, method, ns="ds"
    )
    issuer = assertion.find("saml:Issuer", namespaces=NS)
    issuer.addnext(template)
    ref = xmlsec.template.add_reference(template, digest, uri="#" + assertion.get("ID"))
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    key_info = xmlsec.template.ensure_key_info(template)
    xmlsec.template.add_x509_data(key_info)
    sign_element(root, assertion, keys)
    return etree.tostring(root)


def encrypt_assertion(root: etree._Element, sp_cert_file: Path) -> bytes:
    """Replace the (signed) assertion by an EncryptedAssertion to the SP's certificate:
    AES-256-CBC content key, wrapped with RSA-OAEP, as Okta and ADFS do."""
    assertion = assertion_of(root)
    wrapper = etree.Element(f"{{{SAML}}}EncryptedAssertion", nsmap={"saml": SAML})
    assertion.addprevious(wrapper)
    wrapper.append(assertion)
    data = xmlsec.template.encrypted_data_create(
        root, xmlsec.constants.TransformAes256Cbc, type=xmlsec.constants.TypeEncElement, ns="xenc"
    )
    xmlsec.template.encrypted_data_ensure_cipher_value(data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(data, ns="ds")
    encrypted_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(encrypted_key)
    manager = xmlsec.KeysManager()
    manager.add_key(
        xmlsec.Key.from_file(str(sp_cert_file), xmlsec.constants.KeyDataFormatCertPem, None)
    )
    context = xmlsec.EncryptionContext(manager)
    context.key = xmlsec.Key.generate(
        xmlsec.constants.KeyDataAes, 256, xmlsec.constants.KeyDataTypeSession
    )
    context.encrypt_xml(data, assertion)
    return etree.tostring(root)
