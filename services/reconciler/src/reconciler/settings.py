"""reconciler settings (``ROSTER_`` variables, plus those of :class:`RosterSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.settings import RosterSettings


class ReconcilerSettings(RosterSettings):
    """What the reconciler needs beyond the common settings."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on (health only).")
    port: int = Field(default=8103, description="Port to listen on (health only).")
    user_store_url: str = Field(
        default="http://127.0.0.1:8100",
        description="Base URL of the user-store's internal read API (tenants, users).",
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential for the user-store's internal API, when it requires one "
        "(the same ``ROSTER_INTERNAL_TOKEN`` the user-store reads).",
    )
