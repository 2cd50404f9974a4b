"""SAML 2.0 service provider (python3-saml, strict), with the checks it leaves to us.

python3-saml validates signatures against the configured IdP certificates (never a KeyInfo
certificate), rejects DTDs, counts assertions and binds its queries to the signed element. What
it leaves open or does laxly, this package does:

* signed assertions required and deprecated algorithms (SHA-1) refused — its settings
  (:mod:`.sp`);
* no DTDs, comments or processing instructions anywhere, one Response with exactly one
  assertion, on a hardened parse (:mod:`.hardening`); the size of what is decoded and inflated
  is bounded (:mod:`.bindings`);
* every signature says only what a genuine IdP's does (:mod:`.xmldsig`: exclusive c14n, one
  local Reference, SHA-2, no XSLT/XPath transforms), checked before xmlsec does any signature,
  digest or transform work — and again on a decrypted assertion;
* Audience required and ours; Destination and the bearer confirmation's Recipient compared
  *exactly* with our ACS URL, built from the configured public URL; InResponseTo bound to this
  browser's AuthnRequest unless the tenant allows IdP-initiated login; ``NotOnOrAfter`` required
  on the bearer confirmation; every time bound checked with our skew (:mod:`.response`).

Metadata both ways is in :mod:`.metadata`, the handlers in :mod:`.routes`. Validation is CPU
work in C (lxml, xmlsec) with no I/O: the caller runs it off the event loop
(:class:`sso_login.workers.XmlWorkers`); everything here is per call or per thread.
"""

from __future__ import annotations

from sso_login.saml import queries, schemas
from sso_login.saml.bindings import AuthnRequest, authn_request, decode_post, decode_redirect
from sso_login.saml.errors import SamlError
from sso_login.saml.hardening import NS
from sso_login.saml.metadata import parse_idp_metadata, sp_metadata
from sso_login.saml.response import SamlAssertion, validate_response
from sso_login.saml.sp import NAMEID_UNSPECIFIED, SpKeys, SpUrls, onelogin_settings, sp_urls

# python3-saml compiles its XML schemas and its XPath queries on every validation; ours compile
# them once per thread. Installed here, on the package's import, because every path to a
# python3-saml validation (sso-login's app, the CLI reading metadata, the tests and benches)
# imports this package first; the patches change speed only, never an answer.
schemas.install()
queries.install()

__all__ = [
    "NAMEID_UNSPECIFIED",
    "NS",
    "AuthnRequest",
    "SamlAssertion",
    "SamlError",
    "SpKeys",
    "SpUrls",
    "authn_request",
    "decode_post",
    "decode_redirect",
    "onelogin_settings",
    "parse_idp_metadata",
    "sp_metadata",
    "sp_urls",
    "validate_response",
]
