"""Settings every Roster process shares: where the bus is, how topics are named, how to log.

Built once in a process's entry point (a service's ``__main__`` or the ``roster`` CLI) and passed
down; all read ``ROSTER_*`` variables. A served service's settings derive from
:class:`roster_shared.service.ServiceSettings`, which adds where it listens; only the user-store's
name a database (it is the only writer), so no other process is handed its credentials.
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
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=True, description="Structured JSON logs (one per line).")
