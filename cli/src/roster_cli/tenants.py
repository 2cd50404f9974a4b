"""``roster tenant ...``: tenant administration, through an :data:`Admin`.

In production the admin is the user-store's admin API (:class:`~roster_cli.api.AdminApi`); on the
embedded data directory it is the database itself (:class:`~roster_cli.direct.DatabaseAdmin`,
which never migrates). Both give the same answers, so the output does not depend on the route.

A command returns an :class:`Outcome`: one JSON object for ``--json`` and friendly text otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roster_shared.tenants import ProvisioningMode, TenantInfo

from roster_cli.api import AdminApi
from roster_cli.direct import DatabaseAdmin, in_transaction

Admin = DatabaseAdmin | AdminApi
"""Where a command administers: a database (embedded) or the admin APIs (production)."""

__all__ = ["Admin", "Outcome", "admin_of", "in_transaction"]

MODE_MEANING = {
    ProvisioningMode.SCIM: "SCIM creates and deactivates users (immediately); a login of "
    "someone SCIM has not provisioned is refused.",
    ProvisioningMode.JIT: "users are created at their first SSO login; nothing tells Roster "
    "when someone leaves, so access is removed by the reconciler, not immediately.",
    ProvisioningMode.SCIM_JIT: "SCIM manages the lifecycle (immediate deprovisioning); a login "
    "before SCIM has provisioned someone creates them, and SCIM adopts them later.",
}


@dataclass(frozen=True)
class Outcome:
    """What a command prints: ``data`` with ``--json``, ``text`` otherwise."""

    data: dict[str, Any]
    text: str


def admin_of(where: Admin | str) -> Admin:
    """``where`` as an admin: a string is a database URL."""
    return DatabaseAdmin(where) if isinstance(where, str) else where


def _tenant_json(tenant: TenantInfo) -> dict[str, Any]:
    data: dict[str, Any] = tenant.model_dump(mode="json")
    return data


def _when(moment: datetime) -> str:
    # Every stored time is UTC (SQLite gives it back without its zone).
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _mode_line(mode: ProvisioningMode) -> str:
    return f"mode {mode.value}: {MODE_MEANING[mode]}"


async def create(
    where: Admin | str, slug: str, mode: ProvisioningMode, display_name: str | None
) -> Outcome:
    """``roster tenant create``."""
    tenant = await admin_of(where).create_tenant(slug, mode, display_name)
    lines = [f"Created tenant {tenant.slug!r} (id {tenant.id}).", _mode_line(tenant.mode)]
    if tenant.mode is not ProvisioningMode.JIT:
        lines.append(
            f"Next, issue a SCIM token for its IdP: roster tenant token create {tenant.slug}"
        )
    return Outcome(_tenant_json(tenant), "\n".join(lines))


async def list_all(where: Admin | str) -> Outcome:
    """``roster tenant list``."""
    found = await admin_of(where).list_tenants()
    if not found:
        text = "No tenants yet. Create one with: roster tenant create SLUG --mode scim+jit"
    else:
        width = max(len("SLUG"), *(len(t.slug) for t in found))
        rows = [f"{'SLUG':<{width}}  {'MODE':<8}  {'CREATED':<23}  ID"]
        rows += [
            f"{t.slug:<{width}}  {t.mode.value:<8}  {_when(t.created_at):<23}  {t.id}"
            for t in found
        ]
        text = "\n".join(rows)
    return Outcome({"tenants": [_tenant_json(t) for t in found]}, text)


async def show(where: Admin | str, ref: str) -> Outcome:
    """``roster tenant show``: the tenant and its SCIM tokens (never their secrets)."""
    tenant, tokens = await admin_of(where).show(ref)
    lines = [
        f"Tenant {tenant.slug!r}" + (f" ({tenant.display_name})" if tenant.display_name else ""),
        f"  id:       {tenant.id}",
        f"  {_mode_line(tenant.mode)}",
        f"  policy:   {tenant.policy.model_dump_json()}",
        f"  created:  {_when(tenant.created_at)}",
        f"  SCIM base path: /scim/v2/{tenant.slug}/",
        f"  SCIM tokens ({len(tokens)}):",
    ]
    for token in tokens:
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "live"
        label = f" {token.label!r}" if token.label else ""
        lines.append(f"    {token.id}{label}  created {_when(token.created_at)}  {state}")
    if not tokens:
        lines.append(f"    none; issue one with: roster tenant token create {tenant.slug}")
    data = {**_tenant_json(tenant), "tokens": [t.model_dump(mode="json") for t in tokens]}
    return Outcome(data, "\n".join(lines))


async def set_mode(where: Admin | str, ref: str, mode: ProvisioningMode) -> Outcome:
    """``roster tenant set-mode``."""
    tenant = await admin_of(where).set_mode(ref, mode)
    text = f"Tenant {tenant.slug!r} now uses {_mode_line(tenant.mode)}"
    return Outcome(_tenant_json(tenant), text)


async def token_create(where: Admin | str, ref: str, label: str | None) -> Outcome:
    """``roster tenant token create``: the only time the token's secret is shown."""
    issued = await admin_of(where).issue_token(ref, label)
    text = "\n".join(
        [
            f"SCIM token for tenant {issued.tenant!r} (token id {issued.id}):",
            "",
            f"  {issued.token}",
            "",
            "It is shown only this once: put it in the IdP's SCIM settings now, with the SCIM",
            f"base URL http(s)://<your Roster host>/scim/v2/{issued.tenant}/ .",
            f"Revoke it with: roster tenant token revoke {issued.tenant} {issued.id}",
        ]
    )
    return Outcome(issued.model_dump(mode="json"), text)


async def token_revoke(where: Admin | str, ref: str, token_id: str) -> Outcome:
    """``roster tenant token revoke``: effective for the next SCIM request."""
    tenant, info = await admin_of(where).revoke_token(ref, token_id)
    text = f"Revoked SCIM token {info.id} of tenant {tenant.slug!r}."
    return Outcome({"tenant": tenant.slug, **info.model_dump(mode="json")}, text)
