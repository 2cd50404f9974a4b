"""Tenants as the other services see them (the user-store's tenant lookup answers with these)."""

from __future__ import annotations

import hashlib
import re
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


def tenant_of(
    *,
    id: str,
    slug: str,
    display_name: str | None,
    mode: str,
    settings: dict[str, Any],
    created_at: datetime,
    updated_at: datetime,
) -> TenantInfo:
    """The contract view of a tenant's stored values: the policy is kept inside the settings
    (under ``policy``), apart from the sections other services own."""
    rest = dict(settings)
    policy = TenantPolicy.model_validate(rest.pop("policy", {}))
    return TenantInfo(
        id=id,
        slug=slug,
        display_name=display_name,
        mode=ProvisioningMode(mode),
        policy=policy,
        settings=rest,
        created_at=created_at,
        updated_at=updated_at,
    )


SCIM_TOKEN = re.compile(r"^rst_([A-Za-z0-9]{16})_([A-Za-z0-9_-]{43})$")
"""A SCIM token: ``rst_<token id>_<secret>``. Only the SHA-256 of the secret is stored."""


def token_digest(secret: str) -> str:
    """The SHA-256 of a token's secret, hex: what the user-store stores and compares."""
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_token(token: str) -> tuple[str, str]:
    """``(token id, SHA-256 of the secret)`` of a presented token; a malformed one gets an id
    no token has and the digest of a placeholder, so it is compared like any other."""
    match = SCIM_TOKEN.match(token)
    if match is None:
        return "", token_digest("malformed")
    return match.group(1), token_digest(match.group(2))
