"""What an XML signature in a SAML response may say, checked before any signature work.

xmlsec runs a signature's transforms and computes its reference digests *before* it knows
whether the signature verifies, so whatever a ``ds:Signature`` asks for is done for anyone who
can POST to an ACS — an XSLT transform with an exponential template is an unauthenticated CPU
bomb, XPath and XPath Filter 2.0 are costly node-set walks, a non-local Reference URI or a
``RetrievalMethod`` asks for a fetch, and ``ds:Object``/``ds:Manifest`` carry more of the same.
Genuine IdPs (Okta, Entra ID, Google Workspace, ADFS, OneLogin, Ping, Keycloak, Shibboleth)
all sign a SAML element the way SAML core 5.4 profiles it: exclusive c14n, one Reference to
the enclosing element's ID, the transforms enveloped-signature and exclusive c14n. This module
allows that and nothing else, on the parsed (DTD-free) document, and names what it refused.
"""

from __future__ import annotations

from typing import Any

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

DS = C.NS_DS
XENC = C.NS_XENC
NS = {"samlp": C.NS_SAMLP, "saml": C.NS_SAML, "ds": DS, "xenc": XENC}

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        # Accepted before this allow-list existed (xmlsec verifies them with an EC certificate).
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
"""RFC 6931 names. SHA-1 (and DSA, HMAC) stay refused, as python3-saml's
``rejectDeprecatedAlgorithm`` refused SHA-1 before."""

DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)

CANONICALIZATION_METHODS = frozenset({EXC_C14N})
"""Exclusive c14n without comments only: comments kept in the canonical form are what makes
NameID comment injection verify."""

TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})
MAX_TRANSFORMS = 2
MAX_SIGNATURES = 2
"""One on the Response, one on the Assertion: all SAML core allows to be verified here."""

# Elements that hand xmlsec more work or an outside URI; never in a response we accept.
_FORBIDDEN = {
    f"{{{DS}}}Object": "ds:Object",
    f"{{{DS}}}Manifest": "ds:Manifest",
    f"{{{DS}}}SignatureProperties": "ds:SignatureProperties",
    f"{{{DS}}}RetrievalMethod": "ds:RetrievalMethod",
    f"{{{XENC}}}CipherReference": "xenc:CipherReference",
    f"{{{XENC}}}DataReference": "xenc:DataReference",
    f"{{{XENC}}}KeyReference": "xenc:KeyReference",
}
_KEY_INFO_CHILDREN = frozenset({f"{{{DS}}}X509Data", f"{{{DS}}}KeyName", f"{{{DS}}}KeyValue"})
_SIGNED_PARENTS = frozenset({f"{{{C.NS_SAMLP}}}Response", f"{{{C.NS_SAML}}}Assertion"})
_INCLUSIVE_NAMESPACES = f"{{{EXC_C14N}}}InclusiveNamespaces"


class SignatureNotAllowed(Exception):
    """A signature that asks for more than a genuine IdP's does; the text names what."""


def _name(value: str | None) -> str:
    # Attacker-chosen text goes into a log line: bounded and quoted.
    return repr((value or "")[:120])


def _only(element: Any, allowed: set[str] | frozenset[str], what: str) -> None:
    for child in element:
        if child.tag not in allowed:
            raise SignatureNotAllowed(f"{_tag(child)} in {what} is not allowed")


def _tag(element: Any) -> str:
    tag = element.tag if isinstance(element.tag, str) else "node"
    return tag.replace(f"{{{DS}}}", "ds:").replace(f"{{{XENC}}}", "xenc:")


def _c14n_children(element: Any, what: str) -> None:
    """Exclusive c14n may carry an InclusiveNamespaces PrefixList (Okta sends one); nothing
    else."""
    for child in element:
        if child.tag != _INCLUSIVE_NAMESPACES or len(child):
            raise SignatureNotAllowed(f"{_tag(child)} in {what} is not allowed")


def _one_method(
    parent: Any, tag: str, allowed: frozenset[str] | set[str], *, where: str, what: str, leaf: bool
) -> Any:
    """The one ``tag`` child of ``parent`` whose Algorithm is allowed (childless if ``leaf``)."""
    methods = parent.findall(f"ds:{tag}", namespaces=NS)
    if len(methods) != 1:
        raise SignatureNotAllowed(f"{where} needs exactly one {tag}")
    method = methods[0]
    if method.get("Algorithm") not in allowed or (leaf and len(method)):
        raise SignatureNotAllowed(f"{what} {_name(method.get('Algorithm'))} is not allowed")
    return method


def _check_signature(signature: Any) -> None:
    parent = signature.getparent()
    if parent is None or parent.tag not in _SIGNED_PARENTS:
        raise SignatureNotAllowed("a signature outside a Response or Assertion is not allowed")
    element_id = parent.get("ID")
    if not element_id:
        raise SignatureNotAllowed("the signed element has no ID")

    # Signature: SignedInfo, SignatureValue, KeyInfo — no Object (XML-DSig 4.1).
    _only(
        signature,
        {f"{{{DS}}}SignedInfo", f"{{{DS}}}SignatureValue", f"{{{DS}}}KeyInfo"},
        "a signature",
    )
    signed_infos = signature.findall("ds:SignedInfo", namespaces=NS)
    if len(signed_infos) != 1:
        raise SignatureNotAllowed("a signature needs exactly one SignedInfo")
    signed_info = signed_infos[0]
    for key_info in signature.findall("ds:KeyInfo", namespaces=NS):
        _only(key_info, _KEY_INFO_CHILDREN, "KeyInfo")

    _only(
        signed_info,
        {f"{{{DS}}}CanonicalizationMethod", f"{{{DS}}}SignatureMethod", f"{{{DS}}}Reference"},
        "SignedInfo",
    )
    c14n = _one_method(
        signed_info,
        "CanonicalizationMethod",
        CANONICALIZATION_METHODS,
        where="SignedInfo",
        what="canonicalization method",
        leaf=False,
    )
    _c14n_children(c14n, "CanonicalizationMethod")
    _one_method(
        signed_info,
        "SignatureMethod",
        SIGNATURE_METHODS,
        where="SignedInfo",
        what="signature method",
        leaf=True,
    )

    references = signed_info.findall("ds:Reference", namespaces=NS)
    if len(references) != 1:
        raise SignatureNotAllowed(
            f"a signature must have exactly one Reference, this one has {len(references)}"
        )
    reference = references[0]
    if reference.get("URI") != f"#{element_id}":
        raise SignatureNotAllowed(
            f"Reference URI {_name(reference.get('URI'))} is not the signed element's ID"
        )
    _only(
        reference,
        {f"{{{DS}}}Transforms", f"{{{DS}}}DigestMethod", f"{{{DS}}}DigestValue"},
        "Reference",
    )
    _one_method(
        reference,
        "DigestMethod",
        DIGEST_METHODS,
        where="a Reference",
        what="digest method",
        leaf=True,
    )
    transforms_nodes = reference.findall("ds:Transforms", namespaces=NS)
    if len(transforms_nodes) > 1:
        raise SignatureNotAllowed("a Reference may have one Transforms element")
    for transforms in transforms_nodes:
        _only(transforms, {f"{{{DS}}}Transform"}, "Transforms")
        if len(transforms) > MAX_TRANSFORMS:
            raise SignatureNotAllowed(
                f"a Reference may have at most {MAX_TRANSFORMS} transforms, "
                f"this one has {len(transforms)}"
            )
        seen: set[str] = set()
        for transform in transforms:
            algorithm = transform.get("Algorithm")
            if algorithm not in TRANSFORMS:
                raise SignatureNotAllowed(f"signature transform {_name(algorithm)} is not allowed")
            if algorithm in seen:
                raise SignatureNotAllowed(f"signature transform {_name(algorithm)} is repeated")
            seen.add(algorithm)
            if algorithm == ENVELOPED and len(transform):
                raise SignatureNotAllowed("the enveloped-signature transform takes no content")
            _c14n_children(transform, "a transform")


def check_signatures(document: Any) -> int:
    """Refuse (:class:`SignatureNotAllowed`) any signature, or any signature-like element
    anywhere in ``document``, that is not one a genuine IdP sends; return how many
    signatures there are. Runs in linear time on the parsed tree and never evaluates
    anything the document names."""
    root = document.getroot() if hasattr(document, "getroot") else document
    for tag, name in _FORBIDDEN.items():
        if next(root.iter(tag), None) is not None:
            raise SignatureNotAllowed(f"{name} is not allowed")
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if len(signatures) > MAX_SIGNATURES:
        raise SignatureNotAllowed(
            f"at most {MAX_SIGNATURES} signatures are allowed, found {len(signatures)}"
        )
    for signature in signatures:
        _check_signature(signature)
    # A transform anywhere else (xenc:Transforms of an encrypted part, a stray ds:Transforms)
    # would be run by the decryption or hide from the checks above.
    # (lxml keeps one proxy per node while it is referenced, so membership is by identity.)
    allowed = {
        t
        for s in signatures
        for t in s.iterfind("ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform", namespaces=NS)
    }
    for tag in (f"{{{DS}}}Transform", f"{{{XENC}}}Transforms"):
        for node in root.iter(tag):
            if node not in allowed:
                raise SignatureNotAllowed(
                    f"{_tag(node)} {_name(node.get('Algorithm'))} outside a signature reference "
                    "is not allowed"
                )
    return len(signatures)
