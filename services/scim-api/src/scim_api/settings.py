"""scim-api settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator
from roster_shared.service.settings import UserStoreClientSettings


class ScimApiSettings(UserStoreClientSettings):
    """What the scim-api needs beyond the common settings."""

    port: int = Field(default=8101, description="Port to listen on.")
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
