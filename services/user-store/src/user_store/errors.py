"""The user-store's exceptions. Each carries its reply code and HTTP status in class attributes;
the consumer turns them into replies, the HTTP middleware into JSON errors — one place each."""

from __future__ import annotations

from typing import ClassVar

from roster_shared.events.replies import ErrorCode, ReplyError


class UserStoreError(Exception):
    """Base: a request the user-store refuses, with a reason a caller can show."""

    code: ClassVar[ErrorCode] = ErrorCode.INVALID
    status: ClassVar[int] = 400
    http_error: ClassVar[str | None] = None
    """The ``error`` of the HTTP API's JSON when it says more than ``code`` (which replies on
    the bus carry, and whose values are a published contract)."""

    def __init__(self, detail: str, *, existing_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.existing_id = existing_id

    @property
    def error(self) -> str:
        """The ``error`` of the HTTP API's JSON answer (``routes.errors_middleware``)."""
        return self.http_error or self.code.value

    def to_reply_error(self) -> ReplyError:
        """The typed error sent back on ``roster.replies``."""
        return ReplyError(code=self.code, detail=self.detail, existing_id=self.existing_id)


class Invalid(UserStoreError):
    """The request is malformed or names things that cannot be (an unknown group member)."""


class InvalidFilter(Invalid):
    """The filter names an unknown attribute, compares in a way the attribute does not allow,
    or is too deep or too large (the internal API; SCIM ``invalidFilter``)."""

    http_error = "invalid_filter"


class InvalidCursor(Invalid):
    """A paging cursor this service did not mint for this query (RFC 9865 ``invalidCursor``)."""

    http_error = "invalid_cursor"


class NotFound(UserStoreError):
    """No such resource in this tenant (another tenant's ids are not found either)."""

    code = ErrorCode.NOT_FOUND
    status = 404


class UnknownTenant(NotFound):
    """No such tenant."""

    code = ErrorCode.UNKNOWN_TENANT


class Uniqueness(UserStoreError):
    """A unique attribute (userName, externalId, group displayName) is already taken."""

    code = ErrorCode.UNIQUENESS
    status = 409


class PreconditionFailed(UserStoreError):
    """The caller's expected version is not the stored one (SCIM If-Match)."""

    code = ErrorCode.PRECONDITION_FAILED
    status = 412


class NotProvisioned(UserStoreError):
    """A login for someone SCIM has not provisioned, in ``scim`` mode."""

    code = ErrorCode.NOT_PROVISIONED
    status = 403


class Deactivated(UserStoreError):
    """A login for a deactivated or deleted account."""

    code = ErrorCode.DEACTIVATED
    status = 403


class LinkRefused(UserStoreError):
    """A login that may not be linked to the account it points at (docs/design.md, rule 2).

    Either the account already has a link from this IdP connection to another subject (a login
    never relinks it), or the login matches an account only on a value it did not verify.
    """

    code = ErrorCode.LINK_REFUSED
    status = 403


class Refused(UserStoreError):
    """The tenant's mode does not allow this source to do this."""

    code = ErrorCode.REFUSED
    status = 403


class Unauthorized(UserStoreError):
    """Missing or wrong admin credential."""

    code = ErrorCode.UNAUTHORIZED
    status = 401


class TokenRefused(Unauthorized):
    """A SCIM token that is not a live token of the tenant (``tokens/verify``): the answer to
    the caller's question, not a refusal of the caller, so it has its own error code."""

    http_error = "invalid_token"
