"""console settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.service.settings import UserStoreClientSettings


class ConsoleSettings(UserStoreClientSettings):
    """Where the admin APIs answer, the credentials, and the public URLs to show."""

    port: int = Field(default=8104, description="Port to listen on.")
    admin_token: SecretStr | None = Field(
        default=None,
        description="``ROSTER_ADMIN_TOKEN``: operators sign in with it, and the console sends "
        "it to the admin APIs it acts through. No default: without it the console cannot start.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="``ROSTER_SESSION_SECRET`` (16+ bytes): seals the console's session and "
        "form cookies. The same on every console instance.",
    )
    sso_login_url: str = Field(
        default="http://127.0.0.1:8102",
        description="Base URL of sso-login's admin API (``/sso/admin/...``).",
    )
    reconciler_url: str = Field(
        default="http://127.0.0.1:8103",
        description="Base URL of the reconciler's API (``/reconciler/...``).",
    )
    webhooks_url: str = Field(
        default="http://127.0.0.1:8105",
        description="Base URL of the webhooks service's admin API (``/webhooks/admin/...``).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The public base URL of SCIM and SSO (``ROSTER_PUBLIC_URL``): the SCIM base "
        "URL the portal shows is ``<public_url>/scim/v2/<tenant>/``.",
    )
    console_url: str | None = Field(
        default=None,
        description="The public base URL of the console itself, for the setup links it makes "
        "(default: ``public_url``).",
    )
    session_max_age: int = Field(
        default=8 * 3600, ge=300, description="Seconds an operator stays signed in."
    )

    def console_base(self) -> str:
        """Where setup links point: ``<console_url>/setup/<link>``."""
        return (self.console_url or self.public_url).rstrip("/")
