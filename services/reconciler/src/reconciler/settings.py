"""reconciler settings (``ROSTER_`` variables, plus those of :class:`UserStoreClientSettings`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from roster_shared.service.settings import UserStoreClientSettings


class ReconcilerSettings(UserStoreClientSettings):
    """What the reconciler needs beyond the common settings."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on (health only).")
    port: int = Field(default=8103, description="Port to listen on (health only).")
    directory_key: SecretStr | None = Field(
        default=None,
        description="Fernet key that encrypts the tenants' directory credentials "
        "(``ROSTER_DIRECTORY_KEY``; make one with ``python -c 'from cryptography.fernet import "
        "Fernet; print(Fernet.generate_key().decode())'``). No default: without it no directory "
        "can be connected or read.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer credential of the reconciler's admin API (runs, approvals, "
        "directory); the same ``ROSTER_ADMIN_TOKEN`` the user-store reads. Unset: the API is "
        "closed, apart from the advice.",
    )
    instance_id: str | None = Field(
        default=None, description="This instance's name in tenant leases (default: random)."
    )
    schedule: bool = Field(
        default=True, description="Run each tenant on its policy's interval (else on demand only)."
    )
    schedule_tick: float = Field(
        default=30.0, gt=0, description="Seconds between looks for tenants that are due."
    )
