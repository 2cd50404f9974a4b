"""A SCIM client's read checked by its bearer token in the same internal request.

The scim-api's hot reads (GET of a user by id, a ``/Users`` page such as an IdP's
``userName eq`` lookup) used to cost two internal hops: one to verify the token, one to read.
The user-store now answers both in one request: it verifies the token first (the same check
as ``tokens/verify``, on the tenant the path names) and reads only for a live token. Nothing
is cached, so a revoked token is still refused on its very next request, on every instance.
"""

from __future__ import annotations

from roster_shared.events.envelope import Frozen
from roster_shared.events.people import UserSnapshot
from roster_shared.filters import ListQuery, UserPage
from roster_shared.tenants import TenantInfo


class TokenUserRead(Frozen):
    """Read one user as the holder of ``token``."""

    token: str
    user_id: str


class TokenUsersRead(Frozen):
    """Read a page of users as the holder of ``token``."""

    token: str
    query: ListQuery


class TokenUser(Frozen):
    """The tenant the token is live for and the user it asked for."""

    tenant: TenantInfo
    user: UserSnapshot


class TokenUsers(Frozen):
    """The tenant the token is live for and the page it asked for."""

    tenant: TenantInfo
    page: UserPage
