"""A tenant's SSO connections, kept in the ``sso`` section of the tenant's settings.

The CLI (``roster connection saml|oidc``) writes them through the user-store; sso-login reads
them with every tenant lookup. Nothing here talks to the network.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sso_login.mapping import MappingError, check_mapping

SETTINGS_KEY = "sso"

SAFE_OIDC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Asymmetric JWS algorithms an ID token may use. ``none`` and the HMAC family are never
accepted: a public key must never double as an HMAC secret (RS/HS confusion)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SamlConnection(_Model):
    """The tenant's SAML identity provider."""

    idp_entity_id: str = Field(min_length=1, max_length=1024)
    sso_url: str = Field(min_length=1, max_length=2048)
    sso_binding: Literal["redirect", "post"] = "redirect"
    signing_certs: tuple[str, ...] = Field(
        min_length=1, description="Base64 DER certificates; several during a key rollover."
    )
    allow_idp_initiated: bool = Field(
        default=False, description="Accept unsolicited responses (IdP-initiated login)."
    )
    name_id_format: str | None = None
    require_encryption: bool = Field(
        default=False,
        description="Refuse assertions that are not encrypted to our SP key "
        "(ROSTER_SAML_SP_CERT / ROSTER_SAML_SP_KEY must be set).",
    )


class OidcConnection(_Model):
    """The tenant's OpenID provider."""

    issuer: str = Field(min_length=1, max_length=1024)
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: str = Field(min_length=1, max_length=1024)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256")

    @field_validator("algorithms")
    @classmethod
    def _only_asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unsafe = [a for a in value if a not in SAFE_OIDC_ALGORITHMS]
        if unsafe or not value:
            raise ValueError(f"algorithms must be among {sorted(SAFE_OIDC_ALGORITHMS)}")
        return value

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        parts = urlsplit(value)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ValueError("the issuer must be an https:// URL (http only on loopback)")
        if parts.query or parts.fragment:
            raise ValueError("the issuer must not have a query or fragment")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value if "openid" in value else ("openid", *value)


class SsoConfig(_Model):
    """Everything single sign-on knows about one tenant."""

    saml: SamlConnection | None = None
    oidc: OidcConnection | None = None
    mapping: str | dict[str, Any] = Field(
        default="generic", description="A preset name (okta, entra, ...) or a custom mapping."
    )
    session_max_age: int | None = Field(default=None, ge=60, le=30 * 86400)
    relay_state_allow: tuple[str, ...] = Field(
        default=(), description="Absolute URL prefixes a login may return to."
    )

    @field_validator("mapping")
    @classmethod
    def _usable_mapping(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        # Refused when an admin sets it, not at the first login that needs it.
        try:
            check_mapping(value)
        except MappingError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @classmethod
    def of(cls, settings: dict[str, Any]) -> SsoConfig:
        """The configuration in a tenant's settings (empty when nothing is connected)."""
        return cls.model_validate(settings.get(SETTINGS_KEY) or {})

    def section(self) -> dict[str, Any]:
        """The settings section to store."""
        return {SETTINGS_KEY: self.model_dump(mode="json", exclude_none=True)}
