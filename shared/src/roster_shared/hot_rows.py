"""The hot reads' rows in contract form, written once for both readers of them.

A GET of a user by id, an IdP's ``userName eq`` lookup and the token check before a write are
each one row: the tenant (``t_*`` columns), the user (``u_*``), its identity links and its
groups (``links`` and ``groups``, JSON arrays as text). The user-store reads that row with its
own statements (``user_store.hot_reads``); a scim-api given a reader database URL reads the same
columns from the token-checked database functions (``scim_api.reader``, migration 0009). Both
turn it into :class:`TenantInfo` and :class:`UserSnapshot` here, so the two paths cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from roster_shared.events.people import Email, IdentityLink, MemberRef, UserSnapshot
from roster_shared.tenants import TenantInfo, tenant_of

USER_COLUMNS = (
    "id",
    "tenant_id",
    "user_name",
    "external_id",
    "active",
    "display_name",
    "given_name",
    "family_name",
    "emails",
    "extra",
    "origin",
    "scim_managed",
    "version",
    "created_at",
    "updated_at",
    "last_login_at",
    "deactivated_reason",
)
"""The user columns a hot read returns (each as ``u_<name>``), in this order."""
JSON_COLUMNS = frozenset({"emails", "extra"})
"""User columns that arrive as JSON text."""


def user_snapshot(
    columns: Mapping[str, Any], links: Sequence[IdentityLink], groups: Sequence[MemberRef]
) -> UserSnapshot:
    """The contract view of a user's stored values (``columns`` by column name, JSON decoded)
    with its links and groups already in contract form."""
    return UserSnapshot(
        id=columns["id"],
        tenant_id=columns["tenant_id"],
        user_name=columns["user_name"],
        external_id=columns["external_id"],
        active=columns["active"],
        display_name=columns["display_name"],
        given_name=columns["given_name"],
        family_name=columns["family_name"],
        emails=tuple(Email.model_validate(e) for e in columns["emails"]),
        extra=columns["extra"],
        origin=columns["origin"],
        scim_managed=columns["scim_managed"],
        identity_links=tuple(links),
        groups=tuple(groups),
        version=columns["version"],
        created_at=columns["created_at"],
        updated_at=columns["updated_at"],
        last_login_at=columns["last_login_at"],
        deactivated_reason=columns["deactivated_reason"],
    )


def tenant_of_row(row: Any) -> TenantInfo:
    """The tenant of a hot read's row (its ``t_*`` columns)."""
    return tenant_of(
        id=row["t_id"],
        slug=row["t_slug"],
        display_name=row["t_display_name"],
        mode=row["t_mode"],
        settings=json.loads(row["t_settings"]),
        created_at=row["t_created_at"],
        updated_at=row["t_updated_at"],
    )


def user_columns(row: Any) -> dict[str, Any]:
    """The user's stored values of a hot read's row (its ``u_*`` columns), JSON decoded."""
    return {
        name: json.loads(row[f"u_{name}"]) if name in JSON_COLUMNS else row[f"u_{name}"]
        for name in USER_COLUMNS
    }


def links_and_groups(row: Any) -> tuple[list[IdentityLink], list[MemberRef], dict[str, str]]:
    """The ``links`` and ``groups`` columns in contract form, and key → origin of the groups.
    Links come ordered by creation then issuer, groups by display-name key then id: the orders
    of the user-store's general path."""
    links = [
        IdentityLink(issuer=issuer, subject=subject, subject_format=subject_format)
        for issuer, subject, subject_format in json.loads(row["links"] or "[]")
    ]
    groups = json.loads(row["groups"] or "[]")
    members = [MemberRef(id=gid, display=name) for gid, name, _, _ in groups]
    return links, members, {key: origin for _, _, key, origin in groups}


def user_of_row(row: Any) -> UserSnapshot | None:
    """The user of a hot read's row, or None when the row has none (``u_id`` is NULL: no live
    user of that id or userName in the tenant)."""
    if row["u_id"] is None:
        return None
    links, groups, _ = links_and_groups(row)
    return user_snapshot(user_columns(row), links, groups)
