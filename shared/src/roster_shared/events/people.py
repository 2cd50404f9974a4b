"""Value objects shared by ingestion and lifecycle events: what we know about a person or group."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from roster_shared.events.envelope import Frozen
from roster_shared.events.text import JsonObject, Line

Origin = Literal["scim", "jit", "admin"]


class Email(Frozen):
    """One e-mail address (RFC 7643 §4.1.2 ``emails``)."""

    value: Line = Field(min_length=1, max_length=320)
    type: Line | None = Field(default=None, max_length=64)
    primary: bool = False


class IdentityLink(Frozen):
    """How a login identifies the person: SAML issuer + NameID, or OIDC ``iss`` + ``sub``."""

    issuer: Line = Field(min_length=1, max_length=1024)
    subject: Line = Field(min_length=1, max_length=1024)
    subject_format: Line | None = Field(
        default=None, max_length=256, description="SAML NameID Format; None for OIDC."
    )


class LinkKey(Frozen):
    """A value the SP verified, on which a login with no identity link yet may be matched to an
    existing account (docs/design.md identity rule 2).

    Only sso-login mints these, from what the IdP vouches for: a SAML NameID of persistent or
    e-mail format, an OIDC ``email`` with ``email_verified`` true (Entra ID: ``xms_edov``), or an
    attribute the tenant's admin chose explicitly. Free attributes (``preferred_username``, an
    unverified ``email``, a display name) never become link keys: the person logging in can
    often change them, and linking on them is the "nOAuth" account takeover.
    """

    value: Line = Field(min_length=1, max_length=512)
    match: Literal["user_name", "external_id"] = Field(
        default="user_name",
        description="The account attribute the value is compared with: userName "
        "(case-insensitive, no compatibility folding) or externalId (exact).",
    )
    verified_email: bool = Field(
        default=False,
        description="The IdP vouches that the value is the person's verified e-mail address; "
        "with the tenant's allow_email_linking it may also match an account's e-mails.",
    )
    basis: Line = Field(
        min_length=1,
        max_length=128,
        description="Why sso-login trusts the value, for logs and admins "
        "(saml-nameid:persistent, oidc:email_verified, entra:xms_edov, mapping:<attribute>).",
    )


class UserAttributes(Frozen):
    """The attributes a source reports for a person.

    ``extra`` holds the rest of the SCIM resource (phone numbers, title, the enterprise
    extension...) as JSON so that the user-store keeps what the IdP sent without modelling
    every attribute of RFC 7643.
    """

    user_name: Line = Field(
        min_length=1,
        max_length=512,
        description="SCIM userName; case-insensitive per RFC 7643 §4.1.1.",
    )
    external_id: Line | None = Field(default=None, max_length=512)
    active: bool | None = Field(default=None, description="None: the source did not say.")
    display_name: Line | None = Field(default=None, max_length=512)
    given_name: Line | None = Field(default=None, max_length=256)
    family_name: Line | None = Field(default=None, max_length=256)
    emails: tuple[Email, ...] = Field(default=(), max_length=100)
    extra: JsonObject = Field(default_factory=dict)


class MemberRef(Frozen):
    """A member of a group, with its display value for convenience."""

    id: str
    display: str | None = None


class UserSnapshot(Frozen):
    """The canonical user, as the user-store holds it after a change."""

    id: str
    tenant_id: str
    user_name: str
    external_id: str | None
    active: bool
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    emails: tuple[Email, ...] = ()
    extra: dict[str, Any] = Field(default_factory=dict)
    origin: Origin = Field(description="Who created the account first.")
    scim_managed: bool = Field(description="True once SCIM created or adopted the account.")
    identity_links: tuple[IdentityLink, ...] = ()
    groups: tuple[MemberRef, ...] = ()
    version: int = Field(ge=1, description="Bumped on every canonical change (SCIM meta.version).")
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None = None
    deactivated_reason: str | None = None


class GroupSnapshot(Frozen):
    """The canonical group with its members."""

    id: str
    tenant_id: str
    display_name: str
    external_id: str | None
    members: tuple[MemberRef, ...] = Field(default=(), description="The users in the group.")
    member_groups: tuple[MemberRef, ...] = Field(
        default=(),
        description="The groups in the group (nested groups, RFC 7643 §4.2), each with its "
        "displayName; their own members are not repeated here.",
    )
    extra: dict[str, Any] = Field(default_factory=dict)
    origin: Origin
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
