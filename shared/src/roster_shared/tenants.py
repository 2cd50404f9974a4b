"""Tenants as the other services see them (the user-store's tenant lookup answers with these)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from roster_shared.events.envelope import Frozen


class ProvisioningMode(StrEnum):
    """How a tenant's users arrive and leave (docs/design.md, "Provisioning modes")."""

    SCIM = "scim"
    JIT = "jit"
    SCIM_JIT = "scim+jit"

    @property
    def scim_owns_lifecycle(self) -> bool:
        """In ``scim`` and ``scim+jit`` a login never creates back or reactivates an account."""
        return self is not ProvisioningMode.JIT


class TenantPolicy(Frozen):
    """Per-tenant switches of the identity-resolution rules."""

    allow_email_linking: bool = Field(
        default=False,
        description="Rule 2: a first login's verified e-mail (never an unverified one) may "
        "also match one account's e-mail addresses, not only its userName.",
    )
    jit_group_sync: bool = Field(
        default=True, description="Logins set memberships of groups that logins created."
    )


class TenantInfo(Frozen):
    """A tenant: slug, mode, policy, and the free-form settings of SSO and the reconciler."""

    id: str
    slug: str
    display_name: str | None = None
    mode: ProvisioningMode
    policy: TenantPolicy = TenantPolicy()
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
