"""SAML 2.0 service provider (python3-saml, strict), with the checks it leaves to us.

python3-saml validates signatures against the configured IdP certificates (never a KeyInfo
certificate), rejects DTDs, counts assertions and binds its queries to the signed element. What
it does not do by default (read from its source), this module does:

* signed assertions required and deprecated algorithms (SHA-1) refused — set in its settings;
* Audience required and equal to our entity id; Destination and the bearer confirmation's
  Recipient compared *exactly* with our ACS URL, built from the configured public URL;
* InResponseTo required and equal to the AuthnRequest id bound to this browser, unless the tenant
  allows IdP-initiated login (and then an unsolicited response must not carry one);
* ``NotOnOrAfter`` required on the bearer confirmation; every time bound checked with our skew;
* no comments or processing instructions anywhere (comment injection into the NameID);
* every signature says only what a genuine IdP's does (:mod:`sso_login.xmldsig`: exclusive
  c14n, one local Reference, SHA-2, no XSLT/XPath transforms), checked before xmlsec does any
  signature, digest or transform work — and again on a decrypted assertion;
* the size of what is decoded and inflated is bounded.

The assertion id replay cache is the caller's (it lives in the user-store). Validation is CPU
work in C (lxml, xmlsec) with no I/O: the caller runs it off the event loop
(:class:`sso_login.workers.XmlWorkers`); everything here is per call or per thread.
"""

from __future__ import annotations

import base64
import binascii
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import onelogin.saml2
from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from sso_login.connections import SamlConnection
from sso_login.xmldsig import SignatureNotAllowed, check_signatures

NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NS = {"samlp": C.NS_SAMLP, "saml": C.NS_SAML, "ds": C.NS_DS}


_schemas = threading.local()


def _validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """python3-saml's ``validate_xml`` with the XSD compiled once per thread.

    The library parses and compiles the SAML protocol schema (and its imports) on every call,
    which is most of its validation time; the result is the same.
    """
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    cache: dict[str, Any] = _schemas.__dict__.setdefault("compiled", {})
    compiled = cache.get(schema)
    if compiled is None:
        path = Path(onelogin.saml2.__file__).parent / "schemas" / schema
        with path.open("rb") as source:
            compiled = cache[schema] = etree.XMLSchema(etree.parse(source))
    if not compiled.validate(xml):
        return "invalid_xml"
    return xml


OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml)


class SamlError(Exception):
    """A SAML message we refuse; the text is for the log, not for the person."""


@dataclass(frozen=True)
class SpKeys:
    """The deployment's SP key pair (PEM), for encrypted assertions; optional."""

    cert: str
    key: str


@dataclass(frozen=True)
class SpUrls:
    """Our service provider's identity and endpoint for one tenant."""

    entity_id: str
    acs_url: str
    metadata_url: str


def sp_urls(public_url: str, slug: str) -> SpUrls:
    """Per tenant: the entity id is the metadata URL, so each tenant is its own SP."""
    base = f"{public_url.rstrip('/')}/sso/{slug}/saml"
    return SpUrls(
        entity_id=f"{base}/metadata", acs_url=f"{base}/acs", metadata_url=f"{base}/metadata"
    )


def _security(want_encrypted: bool) -> dict[str, Any]:
    return {
        "wantAssertionsEncrypted": want_encrypted,
        "authnRequestsSigned": False,
        "wantAssertionsSigned": True,
        "wantMessagesSigned": False,
        "wantNameId": True,
        "wantAttributeStatement": False,
        "rejectDeprecatedAlgorithm": True,
        "rejectUnsolicitedResponsesWithInResponseTo": True,
        "signatureAlgorithm": C.RSA_SHA256,
        "digestAlgorithm": C.SHA256,
        "requestedAuthnContext": False,
    }


def onelogin_settings(
    urls: SpUrls, connection: SamlConnection | None, keys: SpKeys | None = None
) -> OneLogin_Saml2_Settings:
    """python3-saml's settings for one tenant, strict; SP only when no IdP is connected yet.

    With ``keys``, the metadata offers an encryption key and encrypted assertions are
    decrypted; a connection with ``require_encryption`` refuses plain ones.
    """
    # Without an IdP yet (metadata), advertise the encryption key whenever there is one.
    want_encrypted = keys is not None if connection is None else connection.require_encryption
    data: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": urls.entity_id,
            "assertionConsumerService": {"url": urls.acs_url, "binding": C.BINDING_HTTP_POST},
            "NameIDFormat": (connection.name_id_format if connection else None)
            or NAMEID_UNSPECIFIED,
            "x509cert": keys.cert if keys else "",
            "privateKey": keys.key if keys else "",
        },
        "security": _security(want_encrypted),
    }
    if connection is None:
        return OneLogin_Saml2_Settings(data, sp_validation_only=True)
    binding = C.BINDING_HTTP_POST if connection.sso_binding == "post" else C.BINDING_HTTP_REDIRECT
    data["idp"] = {
        "entityId": connection.idp_entity_id,
        "singleSignOnService": {"url": connection.sso_url, "binding": binding},
        "x509certMulti": {"signing": list(connection.signing_certs)},
    }
    return OneLogin_Saml2_Settings(data)


def sp_metadata(urls: SpUrls, keys: SpKeys | None = None) -> str:
    """Our SP metadata for the tenant (what its IdP administrator imports first)."""
    settings = onelogin_settings(urls, None, keys)
    metadata = settings.get_sp_metadata()
    errors = settings.validate_metadata(metadata)
    if errors:
        raise SamlError(f"invalid SP metadata: {errors}")
    return metadata.decode() if isinstance(metadata, bytes) else str(metadata)


@dataclass(frozen=True)
class AuthnRequest:
    """A request to send the browser to the IdP with."""

    id: str
    redirect_url: str | None
    post_url: str | None
    form: dict[str, str]


def authn_request(
    urls: SpUrls,
    connection: SamlConnection,
    relay_state: str | None,
    keys: SpKeys | None = None,
) -> AuthnRequest:
    """An AuthnRequest for the tenant's IdP, by its preferred binding."""
    settings = onelogin_settings(urls, connection, keys)
    request = OneLogin_Saml2_Authn_Request(settings)
    params = {}
    if connection.sso_binding == "post":
        params["SAMLRequest"] = request.get_request(deflate=False)
        if relay_state:
            params["RelayState"] = relay_state
        return AuthnRequest(request.get_id(), None, connection.sso_url, params)
    params["SAMLRequest"] = request.get_request(deflate=True)
    if relay_state:
        params["RelayState"] = relay_state
    sep = "&" if "?" in connection.sso_url else "?"
    return AuthnRequest(request.get_id(), connection.sso_url + sep + urlencode(params), None, {})


def decode_post(value: str, *, max_bytes: int) -> bytes:
    """The XML of an HTTP-POST binding message (base64, never inflated)."""
    compact = "".join(value.split())
    if len(compact) > (max_bytes * 4) // 3 + 4:
        raise SamlError("message too large")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError("message is not base64") from exc


def decode_redirect(value: str, *, max_bytes: int) -> bytes:
    """The XML of an HTTP-Redirect binding message: base64 then raw DEFLATE, inflated to at most
    ``max_bytes`` (a deflate bomb stops there instead of filling memory)."""
    raw = decode_post(value, max_bytes=max_bytes)
    inflater = zlib.decompressobj(-15)
    try:
        xml = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise SamlError("message is not DEFLATE data") from exc
    if len(xml) > max_bytes or inflater.unconsumed_tail:
        raise SamlError("inflated message too large")
    return xml


_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """The hardened parser, one per thread (validation runs in a pool of threads; an lxml
    parser is not to be used by two at once)."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=False,
        )
    return parser


def _precheck(xml: bytes) -> etree._Element:
    """Refuse what a genuine IdP response never holds: DTDs (XXE, billion laughs), comments
    (NameID comment injection), processing instructions."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise SamlError("DTDs are not allowed")
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise SamlError("message is not well-formed XML") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise SamlError("DTDs are not allowed")
    if root.xpath("//comment()") or root.xpath("//processing-instruction()"):
        raise SamlError("comments and processing instructions are not allowed")
    if root.tag != f"{{{C.NS_SAMLP}}}Response":
        raise SamlError("not a SAML Response")
    plain = len(root.xpath("//saml:Assertion", namespaces=NS))
    encrypted = len(root.xpath("//saml:EncryptedAssertion", namespaces=NS))
    if plain + encrypted != 1:
        raise SamlError("exactly one assertion is required")
    return root


def _no_comments(document: Any) -> None:
    if document.xpath("//comment()") or document.xpath("//processing-instruction()"):
        raise SamlError("comments and processing instructions are not allowed")


def _time(value: str | None, what: str) -> datetime:
    if not value:
        raise SamlError(f"{what} is required")
    try:
        return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC)
    except (ValueError, TypeError) as exc:
        raise SamlError(f"{what} is not a valid time") from exc


@dataclass(frozen=True)
class SamlAssertion:
    """What a valid response says about the person."""

    issuer: str
    name_id: str
    name_id_format: str | None
    attributes: dict[str, list[str]]
    assertion_id: str
    not_on_or_after: datetime
    in_response_to: str | None
    session_index: str | None


def validate_response(
    encoded: str,
    *,
    urls: SpUrls,
    connection: SamlConnection,
    request_id: str | None,
    skew: timedelta,
    max_bytes: int,
    keys: SpKeys | None = None,
    now: datetime | None = None,
) -> SamlAssertion:
    """Check an ACS POST's ``SAMLResponse`` and read the assertion, or raise :class:`SamlError`."""
    now = now or datetime.now(UTC)
    xml = decode_post(encoded, max_bytes=max_bytes)
    if len(xml) > max_bytes:
        raise SamlError("message too large")
    root = _precheck(xml)
    try:
        # Before python3-saml sees it: it decrypts in its constructor and verifies in
        # is_valid, and xmlsec runs whatever transforms a signature names before it knows
        # the key is wrong. Here the encrypted parts may carry no transforms or references.
        check_signatures(root)
    except SignatureNotAllowed as exc:
        raise SamlError(str(exc)) from exc
    acs = urlsplit(urls.acs_url)
    request_data = {
        "https": "on" if acs.scheme == "https" else "off",
        "http_host": acs.netloc,
        "script_name": acs.path,
        "get_data": {},
        "post_data": {"SAMLResponse": encoded},
    }
    try:
        settings = onelogin_settings(urls, connection, keys)
        response = OneLogin_Saml2_Response(settings, base64.b64encode(xml).decode())
        if response.encrypted:
            # The decrypted assertion, checked as the plain one was, before its signature is.
            _no_comments(response.decrypted_document)
            check_signatures(response.decrypted_document)
        response.is_valid(request_data, request_id=request_id, raise_exceptions=True)
    except SamlError:
        raise
    except SignatureNotAllowed as exc:
        raise SamlError(str(exc)) from exc
    except Exception as exc:  # python3-saml raises its own and lxml's errors alike
        raise SamlError(f"python3-saml: {exc}") from exc

    # Destination: required and exact (python3-saml: optional, prefix match).
    if root.get("Destination") != urls.acs_url:
        raise SamlError(f"Destination {root.get('Destination')!r} is not our ACS URL")

    # InResponseTo: the request bound to this browser, or an allowed unsolicited response.
    in_response_to = root.get("InResponseTo")
    if request_id is None:
        if not connection.allow_idp_initiated:
            raise SamlError("unsolicited response and IdP-initiated login is off")
        if in_response_to is not None:
            raise SamlError("response to a request this browser did not make")
    elif in_response_to != request_id:
        raise SamlError("InResponseTo does not match this browser's request")

    # Audience: required, ours — in every AudienceRestriction (SAML core 2.5.1.4: each one
    # must be satisfied; python3-saml flattens them and only checks when present).
    restrictions = response._query_assertion("/saml:Conditions/saml:AudienceRestriction")
    if not restrictions:
        raise SamlError("no AudienceRestriction")
    for restriction in restrictions:
        audiences = [
            (a.text or "").strip() for a in restriction.findall("saml:Audience", namespaces=NS)
        ]
        if urls.entity_id not in audiences:
            raise SamlError(f"audience {audiences!r} is not ours")

    # Bearer confirmation: exact Recipient, NotOnOrAfter required, InResponseTo consistent.
    confirmed: datetime | None = None
    for node in response._query_assertion("/saml:Subject/saml:SubjectConfirmation"):
        if node.get("Method") != C.CM_BEARER:
            continue
        data = node.find("saml:SubjectConfirmationData", namespaces=NS)
        if data is None or data.get("Recipient") != urls.acs_url:
            continue
        if data.get("InResponseTo") != in_response_to:
            continue
        expires = _time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
        if now >= expires + skew:
            continue
        if data.get("NotBefore") and now + skew < _time(data.get("NotBefore"), "NotBefore"):
            continue
        confirmed = expires
        break
    if confirmed is None:
        raise SamlError("no bearer SubjectConfirmation for our ACS URL within its time window")

    # Conditions with our skew (python3-saml allows 300 s).
    for conditions in response._query_assertion("/saml:Conditions"):
        if conditions.get("NotBefore") and now + skew < _time(conditions.get("NotBefore"), "x"):
            raise SamlError("assertion not yet valid")
        if (
            conditions.get("NotOnOrAfter")
            and now >= _time(conditions.get("NotOnOrAfter"), "x") + skew
        ):
            raise SamlError("assertion expired")

    assertion_id = response.get_assertion_id()
    if not assertion_id:
        raise SamlError("assertion has no ID")
    issuers = response.get_issuers()
    name_id = response.get_nameid()
    if not name_id:
        raise SamlError("no NameID")
    return SamlAssertion(
        issuer=issuers[0] if issuers else connection.idp_entity_id,
        name_id=name_id,
        name_id_format=response.get_nameid_format(),
        attributes={k: [str(v) for v in vs] for k, vs in response.get_attributes().items()},
        assertion_id=assertion_id,
        not_on_or_after=confirmed,
        in_response_to=in_response_to,
        session_index=response.get_session_index(),
    )


def parse_idp_metadata(xml: str, entity_id: str | None = None) -> SamlConnection:
    """A connection from the IdP's metadata XML: entity id, SSO URL and every signing
    certificate (several during a key rollover)."""
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise SamlError("DTDs are not allowed in metadata")
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            xml, required_sso_binding=C.BINDING_HTTP_REDIRECT, entity_id=entity_id
        )
        binding = "redirect"
        if not parsed.get("idp", {}).get("singleSignOnService", {}).get("url"):
            parsed = OneLogin_Saml2_IdPMetadataParser.parse(
                xml, required_sso_binding=C.BINDING_HTTP_POST, entity_id=entity_id
            )
            binding = "post"
    except Exception as exc:
        raise SamlError(f"cannot read the IdP metadata: {exc}") from exc
    idp = parsed.get("idp") or {}
    certs: list[str] = []
    multi = idp.get("x509certMulti") or {}
    certs.extend(multi.get("signing") or [])
    if idp.get("x509cert"):
        certs.append(idp["x509cert"])
    certs = list(dict.fromkeys("".join(c.split()) for c in certs))
    sso_url = (idp.get("singleSignOnService") or {}).get("url")
    if not idp.get("entityId") or not sso_url:
        raise SamlError("the metadata names no IdP entity id or SingleSignOnService URL")
    if not certs:
        raise SamlError("the metadata has no signing certificate")
    return SamlConnection(
        idp_entity_id=idp["entityId"],
        sso_url=sso_url,
        sso_binding=binding,
        signing_certs=tuple(certs),
        name_id_format=(parsed.get("sp") or {}).get("NameIDFormat"),
    )
