"""Every database table of the user-store, the only writer of the database: tenants and their
SCIM tokens; users, their e-mails, identity links, groups and memberships; the consumer's
processed events and outbox; sso-login's replay claims; the reconciler's leases, runs and state.

Users are soft-deleted (``deleted_at``) so that rule 6 of docs/design.md's identity resolution
can hold: a login must not recreate an account that SCIM deleted. Uniqueness therefore only
applies to live rows (partial unique indexes, which both PostgreSQL and SQLite support).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Column, Field, SQLModel

metadata = SQLModel.metadata


def _live_unique(name: str, *columns: str, extra: str | None = None) -> sa.Index:
    condition = sa.text("deleted_at IS NULL" + (f" AND {extra}" if extra else ""))
    return sa.Index(name, *columns, unique=True, postgresql_where=condition, sqlite_where=condition)


class TenantRow(SQLModel, table=True):
    """A customer of the SaaS app, with its provisioning mode and settings."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    slug: str = Field(max_length=64, unique=True, index=True)
    display_name: str | None = Field(default=None, max_length=256)
    mode: str = Field(max_length=16)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class ScimTokenRow(SQLModel, table=True):
    """A SCIM bearer token: only the SHA-256 of its secret part is stored."""

    __tablename__ = "scim_tokens"

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    secret_sha256: str = Field(max_length=64)
    label: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class UserRow(SQLModel, table=True):
    """The canonical account of one person in one tenant."""

    __tablename__ = "users"
    __table_args__ = (
        _live_unique("uq_users_tenant_user_name", "tenant_id", "user_name_key"),
        _live_unique(
            "uq_users_tenant_external_id",
            "tenant_id",
            "external_id",
            extra="external_id IS NOT NULL",
        ),
        sa.Index("ix_users_tenant_created", "tenant_id", "created_at", "id"),
        # Deleted accounts by name (migration 0011): the unique index above holds live ones only.
        sa.Index(
            "ix_users_deleted_name",
            "tenant_id",
            "user_name_key",
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=64)
    user_name: str = Field(max_length=512)
    user_name_key: str = Field(max_length=512, description="NFKC + casefold of user_name.")
    external_id: str | None = Field(default=None, max_length=512)
    active: bool = True
    display_name: str | None = Field(default=None, max_length=512)
    given_name: str | None = Field(default=None, max_length=256)
    family_name: str | None = Field(default=None, max_length=256)
    emails: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin: str = Field(max_length=16)
    scim_managed: bool = False
    version: int = 1
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    last_login_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    deactivated_reason: str | None = Field(default=None, max_length=1024)
    deleted_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class UserEmailRow(SQLModel, table=True):
    """One row per e-mail address, so filters and e-mail linking can use an index."""

    __tablename__ = "user_emails"
    __table_args__ = (sa.Index("ix_user_emails_tenant_value", "tenant_id", "value_key"),)

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=64)
    position: int = Field(primary_key=True)
    tenant_id: str = Field(max_length=64)
    value: str = Field(max_length=320)
    value_key: str = Field(max_length=320)
    type: str | None = Field(default=None, max_length=64)
    primary: bool = False


class IdentityLinkRow(SQLModel, table=True):
    """A login identity (SAML issuer + NameID, OIDC iss + sub) linked to one account."""

    __tablename__ = "identity_links"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant_id", "issuer", "subject", name="uq_links_tenant_issuer_subject"
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    # DEFERRABLE INITIALLY IMMEDIATE on PostgreSQL (migration 0010; the ingest fast pass defers it)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    issuer: str = Field(max_length=1024)
    subject: str = Field(max_length=1024)
    subject_format: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class GroupRow(SQLModel, table=True):
    """A group of users in one tenant."""

    __tablename__ = "groups"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "display_name_key", name="uq_groups_tenant_display"),
        sa.Index(
            "uq_groups_tenant_external_id",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
            sqlite_where=sa.text("external_id IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=64)
    display_name: str = Field(max_length=512)
    display_name_key: str = Field(max_length=512)
    external_id: str | None = Field(default=None, max_length=512)
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin: str = Field(max_length=16)
    version: int = 1
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class MembershipRow(SQLModel, table=True):
    """A user's membership in a group."""

    __tablename__ = "memberships"
    __table_args__ = (sa.Index("ix_memberships_user", "user_id"),)

    group_id: str = Field(foreign_key="groups.id", primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)


class GroupNestingRow(SQLModel, table=True):
    """A group that is a member of another group (RFC 7643 §4.2: members may be groups).

    Apart from :class:`MembershipRow` so that a user's membership keeps its foreign key to
    ``users``; no cycles: a group never contains itself, directly or through others.
    """

    __tablename__ = "group_nesting"
    __table_args__ = (sa.Index("ix_group_nesting_member", "member_group_id"),)

    group_id: str = Field(foreign_key="groups.id", primary_key=True, max_length=64)
    member_group_id: str = Field(foreign_key="groups.id", primary_key=True, max_length=64)
    tenant_id: str = Field(max_length=64)


class ProcessedEventRow(SQLModel, table=True):
    """An ingestion event already applied, with its reply, so a redelivery changes nothing."""

    __tablename__ = "processed_events"

    event_id: str = Field(primary_key=True, max_length=64)
    tenant_id: str | None = Field(default=None, max_length=64)
    processed_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)
    reply: str = Field(sa_type=sa.Text)


class OutboxRow(SQLModel, table=True):
    """A message to publish, written in the same transaction as the change it reports."""

    __tablename__ = "outbox"

    id: int | None = Field(
        default=None,
        sa_column=Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), primary_key=True
        ),
    )
    topic: str = Field(max_length=256)
    key: str = Field(max_length=256)
    value: str | None = Field(default=None, sa_type=sa.Text)
    headers: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class ReplayClaimRow(SQLModel, table=True):
    """One claimed value of one tenant, kept until ``expires_at``."""

    __tablename__ = "replay_claims"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "claim", name="uq_replay_claims_claim"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=64)
    claim: str = Field(max_length=512)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class ReconcilerLeaseRow(SQLModel, table=True):
    """Who runs a tenant now, until when."""

    __tablename__ = "reconciler_leases"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.id", max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))


class ReconcilerRunRow(SQLModel, table=True):
    """One run and its record (what was checked, what was changed and why)."""

    __tablename__ = "reconciler_runs"
    __table_args__ = (sa.Index("ix_reconciler_runs_tenant_started", "tenant_id", "started_at"),)

    id: str = Field(primary_key=True, max_length=64)
    tenant_id: str = Field(foreign_key="tenants.id", max_length=64)
    status: str = Field(max_length=16)
    started_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    record: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReconcilerStateRow(SQLModel, table=True):
    """The reconciler's memory of a tenant between runs."""

    __tablename__ = "reconciler_state"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.id", max_length=64)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
