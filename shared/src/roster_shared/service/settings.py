"""The settings of a served service: where it listens, and how it reaches the user-store.

Each service subclasses one of these with its own fields and default port; all read ``ROSTER_*``
variables (:class:`~roster_shared.settings.RosterSettings`). The database URL is not here: only
the user-store's settings have one.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from roster_shared.settings import RosterSettings


class ServiceSettings(RosterSettings):
    """What every service has: the address it listens on and the internal credential."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8100, description="Port to listen on.")
    access_log: bool = Field(
        default=False,
        description="Log every HTTP request (``ROSTER_ACCESS_LOG``). Off by default: formatting "
        "a line per request was ~6 % of the scim-api under SCIM load (issue 10); the "
        "``/metrics`` request counters and the error logs cover what operators need.",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential of the user-store's internal API "
        "(``ROSTER_INTERNAL_TOKEN``): when set, the user-store requires it and the other "
        "services send it.",
    )

    def internal_token_value(self) -> str | None:
        """The internal credential in clear, or None when the internal API is open."""
        return self.internal_token.get_secret_value() if self.internal_token else None


class UserStoreClientSettings(ServiceSettings):
    """A service that reads from the user-store over HTTP and waits for its replies on the bus
    (scim-api, sso-login, the reconciler)."""

    user_store_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the user-store's internal API (tenants, tokens, users).",
    )
    request_timeout: float = Field(
        default=20.0, gt=0, description="Seconds a request waits for the user-store's reply."
    )
    request_log: bool = Field(
        default=True,
        description="scim-api and sso-login send each request's outcome (no secrets, no "
        "bodies) to the user-store's request log in background batches, for the console's "
        "health pages (``ROSTER_REQUEST_LOG=false``: they do not).",
    )
