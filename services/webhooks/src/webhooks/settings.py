"""webhooks settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from roster_shared.service.settings import UserStoreClientSettings


class WebhooksSettings(UserStoreClientSettings):
    """What the webhooks service needs beyond the common settings."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8105, description="Port to listen on.")
    webhook_key: SecretStr = Field(
        description="Fernet key that encrypts the endpoints' signing secrets in the database "
        "(``ROSTER_WEBHOOK_KEY``; make one with ``python -c 'from cryptography.fernet import "
        "Fernet; print(Fernet.generate_key().decode())'``). No default: required at start.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential of the admin API (``ROSTER_ADMIN_TOKEN``). Unset: the "
        "admin API is closed.",
    )
    consumer_group: str = Field(
        default="roster-webhooks",
        description="Consumer group on ``roster.lifecycle`` (after ``ROSTER_TOPIC_PREFIX``).",
    )
    instance_id: str | None = Field(
        default=None, description="This instance's name in delivery leases (default: random)."
    )
    allow_loopback: bool = Field(
        default=False,
        description="Development only: let endpoints be on loopback, over plain http too "
        "(``roster dev`` sets it). Private and link-local addresses stay refused.",
    )
    delivery_timeout: float = Field(
        default=10.0, gt=0, description="Seconds one delivery may take, connect to last byte."
    )
    max_response_bytes: int = Field(
        default=65_536, gt=0, description="A larger response body is a failed attempt."
    )
    max_redirects: int = Field(
        default=3, ge=0, description="307/308 redirects followed (each target checked again)."
    )
    concurrency: int = Field(default=64, gt=0, description="Deliveries in flight at once.")
    claim_batch: int = Field(default=200, gt=0, le=1000, description="Deliveries per claim.")
    lease_seconds: float = Field(
        default=60.0, ge=1, description="How long a claimed delivery is this instance's."
    )
    poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between looks for due deliveries when idle."
    )
    retry_base: float = Field(
        default=5.0, gt=0, description="Seconds before the first retry; doubles each time."
    )
    retry_cap: float = Field(
        default=6 * 3600.0, gt=0, description="The longest wait between two attempts."
    )
    retry_for: float = Field(
        default=3 * 86_400.0,
        gt=0,
        description="Seconds a delivery keeps being retried before its endpoint is paused "
        "(with the reason; nothing is dropped: resuming sends it again).",
    )
    delivery_retention: float = Field(
        default=14 * 86_400.0,
        gt=0,
        description="Seconds a delivered delivery and its attempts are kept (viewable) before "
        "housekeeping removes them. Must exceed retry_for; a pending delivery is never removed.",
    )
    event_retention: float = Field(
        default=30 * 86_400.0,
        gt=0,
        description="Seconds a consumed event is kept (and can be replayed) once no pending "
        "delivery needs it. At least delivery_retention.",
    )
    housekeeping_interval: float = Field(
        default=3600.0, gt=0, description="Seconds between housekeeping passes."
    )
    secret_overlap: float = Field(
        default=86_400.0,
        ge=0,
        description="Seconds a rotated-out secret keeps signing beside the new one.",
    )

    @model_validator(mode="after")
    def _retentions(self) -> WebhooksSettings:
        if self.delivery_retention <= self.retry_for:
            raise ValueError(
                "delivery_retention must exceed retry_for: attempts are kept at least as long "
                "as a delivery can still be retried"
            )
        if self.event_retention < self.delivery_retention:
            raise ValueError("event_retention must be at least delivery_retention")
        return self
