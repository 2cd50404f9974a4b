"""SAML metadata both ways: ours for the tenant's IdP administrator to import, and the IdP's,
read into a connection."""

from __future__ import annotations

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from sso_login.connections import SamlConnection
from sso_login.saml.errors import SamlError
from sso_login.saml.sp import SpKeys, SpUrls, onelogin_settings


def sp_metadata(urls: SpUrls, keys: SpKeys | None = None) -> str:
    """Our SP metadata for the tenant (what its IdP administrator imports first)."""
    settings = onelogin_settings(urls, None, keys)
    metadata = settings.get_sp_metadata()
    errors = settings.validate_metadata(metadata)
    if errors:
        raise SamlError(f"invalid SP metadata: {errors}")
    return metadata.decode() if isinstance(metadata, bytes) else str(metadata)


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
