"""user-store settings (``ROSTER_`` variables, plus those of :class:`ServiceSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.service.settings import ServiceSettings


class UserStoreSettings(ServiceSettings):
    """What the user-store needs beyond the common settings.

    Only the user-store names a database: it is the only writer, and no other service is
    handed its credentials.
    """

    database_url: str = Field(
        default="sqlite+aiosqlite:///roster.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://... in production.",
    )
    admin_token: SecretStr = Field(
        description="Bearer credential for the admin API (/admin/...). No default: a missing "
        "one stops the service at start."
    )
    cursor_key: SecretStr | None = Field(
        default=None,
        description="Key of the HMAC that authenticates paging cursors (RFC 9865), the same on "
        "every instance. Unset: derived from the admin token (which every instance shares), so "
        "changing either invalidates the cursors handed out so far (a client starts again).",
    )
    port: int = Field(default=8100, description="Port to listen on.")
    consumer_group: str = Field(
        default="roster-user-store",
        description="Consumer group on roster.ingest, under the topic prefix like the topics "
        "(``ROSTER_TOPIC_PREFIX``): installations sharing a cluster never rebalance each other.",
    )
    max_batch: int = Field(default=500, ge=1, description="Events applied per transaction.")
    stall_after: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a partition of roster.ingest may hold waiting records without its "
        "position moving before /readyz reports the user-store not ready "
        "(``ROSTER_STALL_AFTER``).",
    )
    history_days: int = Field(
        default=90,
        ge=1,
        description="Days a user's lifecycle history (the console's user page) is kept "
        "(``ROSTER_HISTORY_DAYS``); the hourly housekeeping deletes older rows.",
    )
    migrate_on_start: bool = Field(
        default=True,
        description="Run Alembic migrations at start (several instances wait on one another).",
    )
