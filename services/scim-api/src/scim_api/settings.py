"""scim-api settings (``ROSTER_`` variables, plus those of :class:`RosterSettings`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from roster_shared.settings import RosterSettings


class ScimApiSettings(RosterSettings):
    """What the scim-api needs beyond the common settings."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8101, description="Port to listen on.")
    user_store_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the user-store's internal read API (tenants, tokens, users).",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential for the user-store's internal API, when it requires one "
        "(the same ``ROSTER_INTERNAL_TOKEN`` the user-store reads).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8101",
        description="The public base URL IdPs reach the SCIM endpoint at, e.g. "
        "``https://scim.example.com`` (``ROSTER_PUBLIC_URL``). Every absolute URL the scim-api "
        "writes (``Location``, ``meta.location``, ``$ref``, bulk ``location``) is "
        "``<public_url>/scim/v2/<tenant>/...``; the Host header of a request is never used "
        "(RFC 7644 §3.1: the location is the resource's URI at the service provider).",
    )

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("must be an absolute http(s) URL without a query, e.g. https://host")
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        return value.rstrip("/")
