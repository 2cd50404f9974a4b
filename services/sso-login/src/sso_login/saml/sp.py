"""Our SAML service provider: its per-tenant identity and endpoints, its optional key pair, and
the strict python3-saml settings every message is built and checked with."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from sso_login.connections import SamlConnection

NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"


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
    # Signed assertions required, SHA-1 refused, unsolicited responses may not claim a request.
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


@lru_cache(maxsize=256)
def onelogin_settings(
    urls: SpUrls, connection: SamlConnection | None, keys: SpKeys | None = None
) -> OneLogin_Saml2_Settings:
    """python3-saml's settings for one tenant, strict; SP only when no IdP is connected yet.

    With ``keys``, the metadata offers an encryption key and encrypted assertions are
    decrypted; a connection with ``require_encryption`` refuses plain ones.

    Remembered by their inputs (all frozen), which are the whole of what they are made from:
    a changed connection — a new certificate, say — is another key, so it is never checked
    with the settings of the old. Building them (certificates re-wrapped, every section
    checked) was ~6 % of a login's response checks, and nothing that uses them, here or in
    python3-saml, changes them after construction.
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
