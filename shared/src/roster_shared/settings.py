"""Settings every Roster process shares: where the bus and the database are, how to log.

Built once in a service's ``__main__`` (or the ``roster`` CLI) and passed down. Each service
subclasses :class:`RosterSettings` with its own fields; all read ``ROSTER_*`` variables.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RosterSettings(BaseSettings):
    """Common settings (environment prefix ``ROSTER_``)."""

    model_config = SettingsConfigDict(env_prefix="ROSTER_", extra="ignore", frozen=True)

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers (host:port,...). Unset: the in-process bus, which "
        "only works when every service runs in one process (`roster dev`).",
    )
    kafka_client_id: str = Field(default="roster", description="Client id prefix for Kafka.")
    topic_prefix: str = Field(
        default="",
        max_length=64,
        description="Prefix of every topic name, so that several "
        "installations can share one Kafka cluster.",
    )
    topic_partitions: int = Field(default=12, ge=1, description="Partitions of new topics.")
    topic_replication: int = Field(default=1, ge=1, description="Replication of new topics.")
    database_url: str = Field(
        default="sqlite+aiosqlite:///roster.db",
        description="SQLAlchemy async URL: postgresql+asyncpg://... in production.",
    )
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="Structured JSON logs (one per line).")
    request_timeout: float = Field(
        default=20.0, gt=0, description="Seconds a request waits for the user-store's reply."
    )
