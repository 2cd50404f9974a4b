"""The SAML HTTP bindings we speak (SAML bindings 3.4 HTTP-Redirect, 3.5 HTTP-POST): the
AuthnRequest sent by the IdP's preferred binding, and messages decoded within a size bound."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from urllib.parse import urlencode

from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request

from sso_login.connections import SamlConnection
from sso_login.saml.errors import SamlError
from sso_login.saml.sp import SpKeys, SpUrls, onelogin_settings


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
