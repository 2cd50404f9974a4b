"""user-store settings (``ROSTER_`` variables, plus those of :class:`RosterSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.settings import RosterSettings


class UserStoreSettings(RosterSettings):
    """What the user-store needs beyond the common settings."""

    admin_token: SecretStr = Field(
        description="Bearer credential for the admin API (/admin/...). No default: a missing "
        "one stops the service at start."
    )
    internal_token: SecretStr | None = Field(
        default=None,
        description="When set, the internal read API (/internal/...) requires it "
        "as a bearer token.",
    )
    cursor_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC that authenticates paging cursors (RFC 9865), the same on "
        "every instance. Unset: derived from the admin token (which every instance shares), so "
        "changing either invalidates the cursors handed out so far (a client starts again).",
    )
    host: str = "127.0.0.1"
    port: int = 8100
    consumer_group: str = "roster-user-store"
    max_batch: int = Field(default=500, ge=1, description="Events applied per transaction.")
    migrate_on_start: bool = Field(
        default=True,
        description="Run Alembic migrations at start (several instances wait on one another).",
    )
