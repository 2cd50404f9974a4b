"""sso-login settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.service.settings import UserStoreClientSettings


class SsoLoginSettings(UserStoreClientSettings):
    """What sso-login needs beyond the common settings."""

    port: int = Field(default=8102, description="Port to listen on.")
    public_url: str = Field(
        default="http://127.0.0.1:8102",
        description="The public base URL browsers and IdPs reach Roster at, e.g. "
        "``https://login.example.com``. SAML ACS URLs, entity ids and OIDC redirect URIs are "
        "built from it, and Destination/Recipient are compared against it exactly; the Host "
        "header of a request is never used.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential of the SSO admin API (``/sso/admin/...``), the same "
        "``ROSTER_ADMIN_TOKEN`` as the user-store's admin API; unset, that API is off.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Secret the keys that encrypt session and login-state cookies are derived "
        "from (``ROSTER_SESSION_SECRET``, 32+ random bytes, the same on every instance). "
        "Required to serve logins.",
    )
    session_max_age: int = Field(
        default=8 * 3600,
        ge=60,
        description="Default maximum session age in seconds; a tenant may set its own.",
    )
    clock_skew: int = Field(
        default=90,
        ge=0,
        le=300,
        description="Seconds of clock difference tolerated with IdPs (NotBefore, NotOnOrAfter, "
        "iat, exp).",
    )
    max_saml_response_bytes: int = Field(
        default=256 * 1024, ge=4096, description="Largest ACS POST body accepted."
    )
    max_inflated_bytes: int = Field(
        default=256 * 1024,
        ge=4096,
        description="Largest inflated HTTP-Redirect message (deflate bombs stop here).",
    )
    saml_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads that validate SAML responses (parse, decrypt, verify) off the "
        "event loop; about one per core this instance may spend on logins.",
    )
    saml_max_pending: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="SAML responses being validated or waiting for a thread, at most; beyond "
        "this the ACS answers 503 at once instead of queueing without bound.",
    )
    saml_time_budget: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Seconds a SAML response's validation may take, waiting included; a slower "
        "one is refused. A genuine response takes milliseconds.",
    )
    login_state_ttl: int = Field(
        default=600, ge=30, description="Seconds a started login may take at the IdP."
    )
    jwks_refetch_interval: float = Field(
        default=60.0,
        ge=0,
        description="At most one JWKS refetch per this many seconds per issuer on an unknown kid.",
    )
    saml_sp_cert: str | None = Field(
        default=None,
        description="PEM certificate of the SP key pair: offered in every tenant's SP metadata "
        "for IdPs to encrypt assertions to.",
    )
    saml_sp_key: SecretStr | None = Field(
        default=None, description="PEM private key of the SP key pair (decrypts assertions)."
    )
