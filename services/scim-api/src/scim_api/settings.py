"""scim-api settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
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

    reader_database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL of the **primary** as the reader role "
        "(``ROSTER_READER_DATABASE_URL``, made by ``roster db reader-role``): GET by id, "
        "``userName eq`` lookups and the token check before a write are then answered by the "
        "token-checked database functions instead of an HTTP request to the user-store. The "
        "role may call those functions and nothing else. Unset: every read goes through the "
        "user-store, as in ``roster dev``. Not a replica: a read right after a write must see "
        "it (the reply is sent after the commit).",
    )
    reader_pool_size: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Connections of the reader role a scim-api holds at most "
        "(``ROSTER_READER_POOL_SIZE``); each read is one short round trip.",
    )

    @field_validator("reader_database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not urlsplit(value.get_secret_value()).scheme.startswith(
            ("postgresql", "postgres")
        ):
            raise ValueError("must be a postgresql:// URL (the reader role is PostgreSQL's)")
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("must be an absolute http(s) URL without a query, e.g. https://host")
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        return value.rstrip("/")
