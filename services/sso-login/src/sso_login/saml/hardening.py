"""What a genuine IdP response never holds, refused on a hardened parse before any library
sees the message: DTDs (XXE, billion laughs), comments (NameID comment injection), processing
instructions, anything but one ``samlp:Response`` with exactly one assertion (signature
wrapping)."""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from sso_login.saml.errors import SamlError

NS = {"samlp": C.NS_SAMLP, "saml": C.NS_SAML, "ds": C.NS_DS}

_parsers = threading.local()


def parser() -> etree.XMLParser:
    """The hardened parser, one per thread (validation runs in a pool of threads; an lxml
    parser is not to be used by two at once)."""
    found = getattr(_parsers, "parser", None)
    if found is None:
        found = _parsers.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=False,
        )
    return found


def precheck(xml: bytes) -> etree._Element:
    """The parsed response, once it holds nothing a genuine IdP response never does."""
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise SamlError("DTDs are not allowed")
    try:
        root = etree.fromstring(xml, parser=parser())
    except etree.XMLSyntaxError as exc:
        raise SamlError("message is not well-formed XML") from exc
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise SamlError("DTDs are not allowed")
    no_comments(root)
    if root.tag != f"{{{C.NS_SAMLP}}}Response":
        raise SamlError("not a SAML Response")
    plain = len(root.xpath("//saml:Assertion", namespaces=NS))
    encrypted = len(root.xpath("//saml:EncryptedAssertion", namespaces=NS))
    if plain + encrypted != 1:
        raise SamlError("exactly one assertion is required")
    return root


def no_comments(document: Any) -> None:
    """Refuse comments and processing instructions anywhere in ``document`` (also the
    decrypted assertion, which the precheck could not see)."""
    if document.xpath("//comment()") or document.xpath("//processing-instruction()"):
        raise SamlError("comments and processing instructions are not allowed")
