"""A tenant's reconciler policy and directory connector settings, kept in the tenant's settings.

The user-store stores them (``settings["reconciler"]`` and ``settings["directory"]``); the
reconciler reads them with the tenant and never writes the database itself. The directory token
is kept encrypted (Fernet, with ``ROSTER_DIRECTORY_KEY``): the user-store only ever sees the
ciphertext.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

POLICY_SECTION = "reconciler"
DIRECTORY_SECTION = "directory"

ConnectorKind = Literal["graph", "okta", "google", "scim"]

DEFAULT_URLS: dict[str, str] = {
    "graph": "https://graph.microsoft.com/v1.0",
    "okta": "",  # per organisation: https://{yourOktaDomain}
    "google": "https://admin.googleapis.com/admin/directory/v1",
    "scim": "",
}


class ReconcilerPolicy(BaseModel):
    """How the reconciler treats one tenant. Every field has a safe default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run on the schedule.")
    interval_minutes: int = Field(
        default=60, ge=1, le=10_080, description="How often the scheduled run checks the tenant."
    )
    inactivity_days: int | None = Field(
        default=90,
        ge=1,
        description="Deactivate JIT users with no successful login for this many days "
        "(None: off). Counted from the last login, or from creation for those never seen.",
    )
    consecutive_misses: int = Field(
        default=1,
        ge=1,
        le=10,
        description="Runs in a row in which a user must be absent from the directory before "
        "they are deactivated. An explicitly disabled or deleted user is acted on at once.",
    )
    brake_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Hold the run for an admin's approval when it would deactivate more than "
        "this share of the tenant's active users the reconciler looks after...",
    )
    brake_count: int = Field(default=100, ge=1, description="... or more than this many users.")
    grace_days: int = Field(
        default=7,
        ge=0,
        description="scim+jit: days a JIT-created user may wait for SCIM to confirm them.",
    )
    deactivate_unconfirmed: bool = Field(
        default=False,
        description="scim+jit: deactivate JIT users SCIM has not confirmed after the grace "
        "period (otherwise they are only reported).",
    )
    reactivate: bool = Field(
        default=True,
        description="jit: reactivate a user the reconciler deactivated when the directory says "
        "they are active again.",
    )


class DirectoryConfig(BaseModel):
    """A tenant's read-only directory connector; ``token`` is Fernet ciphertext."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ConnectorKind
    url: str = Field(min_length=1, max_length=2048)
    token: str = Field(min_length=1, description="Fernet token of the API credential.")


SSO_SECTION = "sso"
DEFAULT_SESSION_MAX_AGE = 8 * 3600
"""sso-login's default maximum session age (``ROSTER_SESSION_MAX_AGE``), in seconds."""


def session_max_age(settings: dict[str, Any], default: int = DEFAULT_SESSION_MAX_AGE) -> int:
    """The tenant's maximum login session age in seconds, as sso-login enforces it (its
    ``sso.session_max_age`` setting, else the service default): what a deactivation cannot
    reach ends after this long anyway."""
    value = (settings.get(SSO_SECTION) or {}).get("session_max_age")
    return int(value) if isinstance(value, int) and value > 0 else default


def tenant_policy(settings: dict[str, Any]) -> ReconcilerPolicy:
    """The tenant's reconciler policy (defaults where it set nothing)."""
    return ReconcilerPolicy.model_validate(settings.get(POLICY_SECTION) or {})


def tenant_directory(settings: dict[str, Any]) -> DirectoryConfig | None:
    """The tenant's directory connector, if one is set."""
    raw = settings.get(DIRECTORY_SECTION)
    return DirectoryConfig.model_validate(raw) if raw else None
